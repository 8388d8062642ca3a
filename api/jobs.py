"""Ingestion jobs over HTTP (`RAG_INGEST_QUEUE`): the newest jobs of a KB, and one job by id.

A job is shown to a key that may read its KB; the list without `kb` is the admin key's, as it
spans every KB. 404 names the setting when this service queues nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, principal, readable_kb, require_admin
from api.errors import ApiError
from api.services import Services, services
from ingest.jobs import JobQueue
from ingest.jobs.queue import JOB_STATES, JobNotFound

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


def _queue(found: Services) -> JobQueue:
    if found.jobs is None:
        raise ApiError(404, "no_job_queue", "this service ingests uploads itself: set RAG_INGEST_QUEUE=true")
    return found.jobs


@router.get("")
async def list_jobs(
    caller: Caller,
    found: Found,
    kb: str | None = None,
    status: Annotated[str | None, Query(description=", ".join(JOB_STATES))] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The newest jobs (of `kb`, or of every KB for the admin key), with counts per state."""
    queue = _queue(found)
    if kb is None:
        require_admin(caller, "listing the jobs of every knowledge base (pass kb=…)")
    else:
        readable_kb(caller, found, kb)
    if status is not None and status not in JOB_STATES:
        raise ApiError(422, "invalid_status", f"status must be one of {', '.join(JOB_STATES)}")
    jobs = await run_in_threadpool(queue.list, status, kb, limit)
    counts = await run_in_threadpool(queue.counts, kb)
    return {"counts": counts, "jobs": [job.as_dict() for job in jobs]}


@router.get("/{job_id}")
async def get_job(job_id: int, caller: Caller, found: Found) -> dict[str, Any]:
    """A job's state, attempts, and its document's state and error in the ledger."""
    queue = _queue(found)
    try:
        job = await run_in_threadpool(queue.show, job_id)
    except JobNotFound:
        job = None
    if job is None or not caller.can_read(job.kb):
        raise ApiError(404, "job_not_found", f"no ingestion job {job_id}")
    return job.as_dict()
