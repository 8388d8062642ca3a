"""Knowledge bases and documents over HTTP: create and delete KBs (admin), upload, list, inspect, delete.

Uploads go through the same ingest pipeline as `rag ingest`, one batch at a time on a single worker
thread. A small upload (`RAG_UPLOAD_SYNC_MB`) is ingested before the reply (200, final states); a
larger one is queued (202) and `GET /v1/documents/{id}` reports its state and any error. A client's
file name is never used as a path: each upload is stored under a folder named by a hash of the KB
and the name, with the name reduced to safe characters; the same name uploaded again replaces the
earlier document (a new content hash re-ingests it, an unchanged one is skipped).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, principal, readable_kb, require_admin
from api.errors import ApiError
from api.services import Services, services
from ingest.loaders import SUPPORTED_EXTENSIONS
from rag.models import document_id
from rag.stores.sql.kb_tables import kb_namespace

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["documents"])
Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]
#: bytes read from an upload at a time: memory stays flat whatever the file's size
_COPY_BLOCK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\- ]+")
#: bytes of a staged file's name; ".part" and the file system's 255 leave room
_NAME_BYTES = 200
_SUFFIX_CHARS = 16


class NewKnowledgeBase(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[\w.\-]+$")
    description: str = Field("", max_length=2000)


def _writable(caller: Principal, found: Services, kb: str) -> None:
    readable_kb(caller, found, kb)
    if not caller.can_write(kb):
        raise ApiError(
            403, "forbidden", f"this key may read {kb!r} but not change it (rag keys create --write)"
        )


@router.get("/knowledge-bases")
def list_kbs(caller: Caller, found: Found) -> dict[str, Any]:
    """The knowledge bases this key may read, with their document counts."""
    return {"knowledge_bases": [asdict(kb) for kb in found.stores.sql.list_kbs() if caller.can_read(kb.name)]}


@router.post("/knowledge-bases", status_code=201)
def create_kb(body: NewKnowledgeBase, caller: Caller, found: Found) -> dict[str, str]:
    """Create a knowledge base (admin key)."""
    require_admin(caller, "managing knowledge bases")
    if not found.stores.sql.create_kb(body.name, body.description):
        raise ApiError(409, "kb_exists", f"a knowledge base named {body.name!r} already exists")
    return {"name": body.name, "description": body.description}


@router.get("/knowledge-bases/{kb}")
def get_kb(kb: str, caller: Caller, found: Found) -> dict[str, Any]:
    """A knowledge base's documents by state, chunks, tables and recent failures."""
    readable_kb(caller, found, kb)
    return {"name": kb, **asdict(found.stores.sql.stats(kb))}


@router.delete("/knowledge-bases/{kb}")
def remove_kb(kb: str, caller: Caller, found: Found) -> dict[str, str]:
    """Delete a knowledge base from every store (admin key)."""
    require_admin(caller, "managing knowledge bases")
    readable_kb(caller, found, kb)
    with found.write_lock:  # not while its uploads are being ingested
        found.stores.delete_kb(kb)
    return {"deleted": kb}


def safe_name(name: str) -> str:
    """A file name with no path and no unusual characters, keeping the extension: only the part after
    the last `/` or `\\` (so `../`, `C:\\Users\\…` and `/etc/` fall away), anything but letters,
    digits, `.`, `-`, `_` and spaces (NUL and other controls, `:` of a drive letter) as `_`, and at
    most _NAME_BYTES bytes of UTF-8 with the extension kept (a 4 KB name, or 120 CJK characters,
    would pass the file system's 255-byte limit)."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    suffix = Path(cleaned).suffix
    if len(suffix) > _SUFFIX_CHARS:  # no extension a loader reads: all of it is the stem
        suffix = ""
    stem = cleaned.removesuffix(suffix).encode()[: _NAME_BYTES - len(suffix.encode())]
    return (stem.decode(errors="ignore").strip(" .") or "upload") + suffix


def _staging_path(found: Services, kb: str, name: str) -> Path:
    """Resolved like the paths `rag ingest` walks, so the document id computed here is the ledger's."""
    digest = hashlib.sha256(f"{kb}\x1f{name}".encode()).hexdigest()[:16]
    folder = found.settings.data_dir / "uploads" / kb_namespace(kb) / digest
    return (folder / safe_name(name)).resolve()


async def _stage(upload: UploadFile, target: Path, limit: int) -> int:
    """Copy the upload to `target` block by block; over `limit` bytes, stop and refuse it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    size = 0
    with partial.open("wb") as out:
        while block := await upload.read(_COPY_BLOCK):
            size += len(block)
            if size > limit:
                out.close()
                partial.unlink(missing_ok=True)
                raise _too_large(upload, limit)
            await run_in_threadpool(out.write, block)  # the event loop never waits on the disk
    partial.replace(target)
    return size


def _ingest(found: Services, kb: str, paths: list[Path], ids: list[str]) -> None:
    """Ingest one upload; its documents leave the queue only once the ledger holds them, so a
    client polling `GET /v1/documents/{id}` never sees them vanish in between."""
    try:
        with found.write_lock:
            summary = found.ingest.run(paths, kb, learn=False)
        found.learn_soon(kb, summary)
    except Exception:  # a store failing mid-way: the reply of a queued upload is long gone
        log.exception("event=upload_ingest_failed kb=%s files=%d", kb, len(paths))
        raise
    finally:
        with found.queue_lock:
            for doc_id in ids:
                found.queued.pop(doc_id, None)


@router.post(
    "/knowledge-bases/{kb}/documents",
    responses={202: {"description": "Queued: poll GET /v1/documents/{id}"}, 413: {}, 415: {}},
)
async def upload(
    kb: str,
    files: Annotated[list[UploadFile], File(description="One or more documents")],
    caller: Caller,
    found: Found,
    request: Request,
) -> Any:
    """Ingest uploaded files into a knowledge base; each comes back with its document id and state."""
    _writable(caller, found, kb)
    settings = found.settings
    if len(files) > settings.upload_max_files:
        raise ApiError(
            413, "too_many_files", f"{len(files)} files: at most {settings.upload_max_files} per request"
        )
    names = [upload.filename or "" for upload in files]
    for name in names:
        if Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
            supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
            shown = safe_name(name) if name else "a file without a name"
            raise ApiError(415, "unsupported_type", f"{shown}: supported types are {supported}")
    limit = int(settings.max_file_mb * (1 << 20))
    if found.jobs is not None:
        return await _enqueue(found, kb, files, names, limit, request)
    paths, total = [], 0
    for upload, name in zip(files, names, strict=True):
        path = _staging_path(found, kb, name)
        total += await _stage(upload, path, limit)
        paths.append(path)
    ids = [document_id(kb, str(path)) for path in paths]
    with found.queue_lock:
        found.queued.update(dict.fromkeys(ids, kb))
    job = found.worker.submit(_ingest, found, kb, paths, ids)
    if total > settings.upload_sync_mb * (1 << 20):
        request.app.state.metrics.ingested.labels("queued").inc(len(ids))
        queued = [{"id": i, "file_name": n, "status": "queued"} for i, n in zip(ids, names, strict=True)]
        return JSONResponse({"documents": queued}, status_code=202)
    await asyncio.wrap_future(job)
    details = found.stores.sql.document_details(ids)
    for detail in details:
        request.app.state.metrics.ingested.labels(detail.status).inc()
    return {"documents": [asdict(detail) for detail in details]}


async def _enqueue(
    found: Services, kb: str, files: list[UploadFile], names: list[str], limit: int, request: Request
) -> JSONResponse:
    """With `RAG_INGEST_QUEUE`: each file's bytes and its job into the relational store in one
    transaction, for whichever worker takes it; 202 at once. One file is in memory at a time."""
    assert found.jobs is not None
    queued = []
    for upload, name in zip(files, names, strict=True):
        content = await _read(upload, limit)
        source = f"upload:{safe_name(name)}"
        job = await run_in_threadpool(found.jobs.enqueue_upload, kb, source, safe_name(name), content)
        queued.append({"id": document_id(kb, source), "file_name": name, "status": "queued", "job": job})
    request.app.state.metrics.ingested.labels("queued").inc(len(queued))
    return JSONResponse({"documents": queued}, status_code=202)


async def _read(upload: UploadFile, limit: int) -> bytes:
    """The upload's bytes; over `limit`, refused as soon as it is known (no more is read)."""
    blocks, size = [], 0
    while block := await upload.read(_COPY_BLOCK):
        size += len(block)
        if size > limit:
            raise _too_large(upload, limit)
        blocks.append(block)
    return b"".join(blocks)


def _too_large(upload: UploadFile, limit: int) -> ApiError:
    return ApiError(
        413, "file_too_large", f"{safe_name(upload.filename or '')}: larger than {limit // (1 << 20)} MB"
    )


@router.get("/knowledge-bases/{kb}/documents")
def list_documents(
    kb: str,
    caller: Caller,
    found: Found,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """One page of the KB's documents with their states."""
    readable_kb(caller, found, kb)
    total, page = found.stores.sql.list_documents(kb, offset, limit)
    return {"total": total, "offset": offset, "limit": limit, "documents": [asdict(d) for d in page]}


def _document(found: Services, caller: Principal, doc_id: str) -> dict[str, Any]:
    details = found.stores.sql.document_details([doc_id])
    if details and caller.can_read(details[0].kb):
        return asdict(details[0])
    with found.queue_lock:
        kb = found.queued.get(doc_id)
    if kb is None and found.jobs is not None:
        kb = found.stores.sql.waiting_uploads([doc_id]).get(doc_id)
    if kb is not None and caller.can_read(kb):
        return {"id": doc_id, "kb": kb, "status": "queued"}
    raise ApiError(404, "document_not_found", f"no document with id {doc_id!r}")


@router.get("/documents/{doc_id}")
def get_document(doc_id: str, caller: Caller, found: Found) -> dict[str, Any]:
    """A document's state (queued, pending, stored, …, done or failed) and its error, if any."""
    return _document(found, caller, doc_id)


@router.delete("/documents/{doc_id}")
def remove_document(doc_id: str, caller: Caller, found: Found) -> dict[str, str]:
    """Remove a document from all three stores, and its uploaded file."""
    detail = _document(found, caller, doc_id)
    _writable(caller, found, detail["kb"])
    entries = found.stores.sql.find_documents(doc_id)
    if not entries and found.jobs is not None:
        found.stores.sql.delete_documents([doc_id])  # its upload's bytes, and its job cancelled
        return {"deleted": doc_id}
    if not entries:
        raise ApiError(
            409, "document_queued", "the document is still queued for ingestion; try again shortly"
        )
    with found.write_lock:
        found.stores.delete_documents(entries)
    uploads = (found.settings.data_dir / "uploads").resolve()
    source = Path(entries[0].source).resolve()
    if source.is_relative_to(uploads):
        shutil.rmtree(source.parent, ignore_errors=True)
    return {"deleted": doc_id}
