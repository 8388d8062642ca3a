"""Deferring, listing, retrying and cancelling ingestion jobs: what the CLI and the API ask of the
queue. Nothing here ingests; `rag worker` does (`ingest.jobs.worker`).

A job is keyed by its document: procrastinate's `lock` (the document id) lets one job per document
run at a time, and its `queueing_lock` keeps one waiting: enqueueing a document that already waits
is a no-op (its job will read the file, or the newest upload, when it runs). An upload's bytes and
its job are written in one transaction, so a job never exists without its bytes, nor bytes without
a job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate.exceptions import AlreadyEnqueued

from ingest.jobs.app import INGEST_TASK, JOB_QUEUE, job_args, open_job_app
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.walk import walk
from rag.config import Settings
from rag.models import document_id
from rag.stores.sql import SqlStore
from rag.stores.sql.results import DocumentDetails
from rag.stores.sql.uploads import StoredUpload, put

#: the job states `rag jobs list --status` accepts, as procrastinate names them
JOB_STATES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


class JobNotFound(Exception):
    """No ingestion job has this id."""


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as the CLI and the API show it: the queue's state, and its document's in the ledger."""

    id: int
    status: str
    kb: str
    source: str
    upload: bool
    document_id: str
    attempts: int
    scheduled_at: datetime | None
    #: the document's state in the ledger (`stored`, `done`, `failed` …), None before its first run
    document_status: str | None = None
    #: the ledger's reason when the document failed
    error: str | None = None
    #: where the job is: queued, loading (reading and chunking), indexing (embedding and linking
    #: the stored chunks), done, failed, cancelled or aborted
    stage: str = "queued"
    #: the document's chunks in the ledger, and how many of them are embedded and linked
    chunks: int = 0
    chunks_indexed: int = 0

    def as_dict(self) -> dict[str, Any]:
        shown = {name: getattr(self, name) for name in self.__slots__}
        shown["scheduled_at"] = self.scheduled_at.isoformat() if self.scheduled_at else None
        return shown


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What `enqueue_paths` did: jobs deferred, documents whose job was already waiting, and the
    paths refused as names (each with its reason)."""

    jobs: list[int]
    waiting: list[str]
    refused: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued": len(self.jobs),
            "jobs": self.jobs,
            "already_waiting": self.waiting,
            "refused": [{"source": s, "reason": r} for s, r in self.refused],
        }


class JobQueue:
    """The ingestion queue of a set of settings, opened for synchronous use (`with JobQueue(...)`)."""

    def __init__(self, settings: Settings, sql: SqlStore) -> None:
        self.sql = sql
        self.app: procrastinate.App = open_job_app(settings)
        self._task = self.app.tasks[INGEST_TASK]

    def open(self) -> JobQueue:
        self.app.open()
        return self

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> JobQueue:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ enqueue
    def enqueue_paths(
        self, paths: Sequence[Path], kb: str, include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> Enqueued:
        """A job per file under `paths` (absolute, since a worker may run in another folder)."""
        self.sql.create_kb(kb)
        refused: list[tuple[str, str]] = []
        files = [p.absolute() for p in walk(paths, SUPPORTED_EXTENSIONS, include, exclude, refused)]
        deferred: list[int] = []
        waiting: list[str] = []
        for path in files:
            job_id = self._defer(kb, str(path), upload=False)
            if job_id is None:
                waiting.append(str(path))
            else:
                deferred.append(job_id)
        return Enqueued(deferred, waiting, refused)

    def enqueue_upload(self, kb: str, source: str, file_name: str, content: bytes) -> int | None:
        """Keep the upload's bytes and defer its job, in one transaction; None when a job for the
        document already waits (it will read these bytes, the newest)."""
        self.sql.create_kb(kb)
        upload = StoredUpload(document_id(kb, source), kb, source, file_name, content)
        with self.sql.engine.begin() as conn:
            put(conn, upload)
            return self._defer(kb, source, upload=True, connection=conn.connection.driver_connection)

    def _defer(self, kb: str, source: str, *, upload: bool, connection: Any = None) -> int | None:
        key = document_id(kb, source)
        options: dict[str, Any] = {"lock": key, "queueing_lock": key}
        if connection is not None:
            options["connection"] = connection
        try:
            return int(self._task.configure(**options).defer(**job_args(kb, source, upload=upload)))
        except AlreadyEnqueued:
            return None

    # ------------------------------------------------------------------- manage
    def list(self, status: str | None = None, kb: str | None = None, limit: int = 100) -> list[JobView]:
        """The newest `limit` jobs, with their documents' state in the ledger (one query on the
        queue's table, however many jobs it holds)."""
        where = ["queue_name = :queue"]
        params: dict[str, Any] = {"queue": JOB_QUEUE, "limit": limit}
        if status is not None:
            where.append("status = CAST(:status AS procrastinate_job_status)")
            params["status"] = status
        if kb is not None:
            where.append("args->>'kb' = :kb")
            params["kb"] = kb
        query = (
            f"SELECT {_COLUMNS} FROM procrastinate_jobs WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT :limit"
        )
        with self.sql.engine.connect() as conn:
            rows = conn.execute(sa.text(query), params).all()
        return self._views(rows)

    def show(self, job_id: int) -> JobView:
        query = f"SELECT {_COLUMNS} FROM procrastinate_jobs WHERE queue_name = :queue AND id = :id"
        with self.sql.engine.connect() as conn:
            rows = conn.execute(sa.text(query), {"queue": JOB_QUEUE, "id": job_id}).all()
        if not rows:
            raise JobNotFound(f"no ingestion job {job_id}")
        return self._views(rows)[0]

    def counts(self, kb: str | None = None) -> dict[str, int]:
        """Jobs per state, of `kb` or of every KB."""
        query = "SELECT status::text, count(*) FROM procrastinate_jobs WHERE queue_name = :queue"
        if kb is not None:
            query += " AND args->>'kb' = :kb"
        with self.sql.engine.connect() as conn:
            rows = conn.execute(sa.text(query + " GROUP BY 1"), {"queue": JOB_QUEUE, "kb": kb})
            return {state: int(n) for state, n in rows}

    def pending(self) -> int:
        """Jobs waiting (whenever they are scheduled: retries included) or running."""
        counts = self.counts()
        return counts.get("todo", 0) + counts.get("doing", 0)

    def retry(self, job_id: int) -> JobView:
        """Run a failed, cancelled or aborted job again, now; a waiting or running one is left as is.

        procrastinate retries a failed job; a cancelled or aborted one it has no call for, so its
        row goes back to `todo` here (the same job, its attempts kept), unless another job of the
        document already waits, which will do the work."""
        job = self.show(job_id)
        if job.status == "failed":
            self.app.job_manager.retry_job_by_id(job_id, retry_at=datetime.now(UTC))
        elif job.status in ("cancelled", "aborted"):
            with contextlib.suppress(sa.exc.IntegrityError), self.sql.engine.begin() as conn:
                conn.execute(_REQUEUE, {"id": job_id})
        return self.show(job_id)

    def cancel(self, job_id: int) -> JobView:
        """Cancel a waiting job; a running one is asked to abort and stops before its next write
        (`fence`), its document left `stored` with its progress, for `retry` to resume."""
        self.show(job_id)
        self.app.job_manager.cancel_job_by_id(job_id, abort=True)
        return self.show(job_id)

    def cancel_documents(self, document_ids: Sequence[str]) -> int:
        """Cancel the waiting jobs of documents being deleted; how many were cancelled."""
        if not document_ids:
            return 0
        query = (
            "SELECT id FROM procrastinate_jobs"
            " WHERE queue_name = :queue AND status = 'todo' AND lock IN :keys"
        )
        statement = sa.text(query).bindparams(sa.bindparam("keys", expanding=True))
        params = {"queue": JOB_QUEUE, "keys": list(document_ids)}
        with self.sql.engine.connect() as conn:
            ids = [row.id for row in conn.execute(statement, params)]
        return sum(1 for job_id in ids if self.app.job_manager.cancel_job_by_id(job_id))

    def _views(self, rows: Sequence[sa.Row[Any]]) -> list[JobView]:
        keys = [document_id(str(r.args.get("kb", "")), str(r.args.get("source", ""))) for r in rows]
        details = {d.id: d for d in self.sql.document_details(keys)}
        return [_view(row, key, details.get(key)) for row, key in zip(rows, keys, strict=True)]


def waiting_jobs(engine: sa.Engine, kb: str) -> bool:
    """Whether any job of `kb` waits to run (at any scheduled time, retries included)."""
    query = (
        "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs"
        " WHERE queue_name = :queue AND status = 'todo' AND args->>'kb' = :kb)"
    )
    with engine.connect() as conn:
        return bool(conn.scalar(sa.text(query), {"queue": JOB_QUEUE, "kb": kb}))


#: a cancelled or aborted job back in the queue; the queueing lock's unique index refuses it while
#: another job of the document waits
_REQUEUE = sa.text(
    "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = now(), abort_requested = false"
    " WHERE id = :id AND status IN ('cancelled', 'aborted')"
)

#: the queue table's columns a view needs (procrastinate's own schema, migration 0007)
_COLUMNS = "id, status::text AS status, args, attempts, scheduled_at"


def _stage(status: str, document: DocumentDetails | None) -> str:
    """Where a job is, from its queue state and its document's row in the ledger."""
    if status == "todo":
        return "queued"
    if status == "doing":
        return "indexing" if document is not None and document.status == "stored" else "loading"
    return {"succeeded": "done"}.get(status, status)


def _view(row: sa.Row[Any], key: str, document: DocumentDetails | None) -> JobView:
    return JobView(
        id=int(row.id),
        status=str(row.status),
        kb=str(row.args.get("kb", "")),
        source=str(row.args.get("source", "")),
        upload=bool(row.args.get("upload", False)),
        document_id=key,
        attempts=int(row.attempts),
        scheduled_at=row.scheduled_at,
        document_status=document.status if document else None,
        error=document.error if document else None,
        stage=_stage(str(row.status), document),
        chunks=document.chunk_count if document else 0,
        chunks_indexed=document.chunks_indexed if document else 0,
    )
