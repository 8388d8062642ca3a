"""Routes for the `rag` command of the user who runs `rag serve`, while the server holds the data folder.

The embedded stores admit one process, so while `rag serve` runs, `rag ingest` and `rag status`
send their work here (`rag.cli.remote`) instead of failing on the lock. Ingesting paths makes
the server read files from its own disk, so only the local credential of the server's record
(`rag.stores.server_record`) may ask for it: never an API key, the admin key or open mode, which
reach no further than the uploads they send. The status needs the admin's view of every store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth import Principal, principal, require_admin, require_local
from api.errors import ApiError
from api.schemas import LocalIngestRequest
from api.services import Services, services
from ingest.walk import PathNotFound

router = APIRouter(prefix="/v1/local", tags=["local"])
Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


@router.post("/ingest")
def ingest(request: LocalIngestRequest, caller: Caller, found: Found) -> dict[str, Any]:
    """`rag ingest` on paths of the server's disk (local credential only): the run's summary.

    A sync route, so the ingest runs on a worker thread; under the write lock, after any upload
    being ingested and never beside a delete."""
    require_local(caller, "ingesting paths of the server's disk")
    paths = [Path(path) for path in request.paths]
    relative = [str(path) for path in paths if not path.is_absolute()]
    if relative:  # the server's working folder is not the caller's
        raise ApiError(422, "invalid_request", f"paths: not absolute: {', '.join(relative)}")
    with found.write_lock:
        try:
            summary = found.ingest.run(
                paths,
                request.kb,
                request.include,
                request.exclude,
                request.prune,
            )
        except PathNotFound as exc:
            raise ApiError(404, "path_not_found", str(exc)) from None
    return summary.as_dict()


@router.get("/status")
def status(
    caller: Caller, found: Found, kb: Annotated[str | None, Query(max_length=128)] = None
) -> dict[str, Any]:
    """`rag status`: what each store holds for one KB, or for every KB (admin or local credential)."""
    require_admin(caller, "the status of the stores")
    if kb is not None and not found.stores.sql.kb_exists(kb):
        raise ApiError(404, "kb_not_found", f"no knowledge base named {kb!r} (rag kb list shows them)")
    if kb is not None:
        return found.stores.status(kb)
    return {"knowledge_bases": [found.stores.status(row.name) for row in found.stores.sql.list_kbs()]}
