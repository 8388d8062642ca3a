"""The procrastinate app of a set of settings: its connection and the one ingestion task."""

from __future__ import annotations

from typing import Any

import procrastinate
import sqlalchemy as sa

from rag.config import Settings

#: the queue every ingestion job goes to (workers listen to it alone)
JOB_QUEUE = "ingest"
INGEST_TASK = "rag.ingest_document"


class QueueUnavailable(Exception):
    """The settings name no relational store that can hold the job queue."""


def conninfo(settings: Settings) -> str:
    """The libpq URL of the ledger's PostgreSQL (SQLAlchemy's `postgresql+psycopg://` as plain
    `postgresql://`); refused, with the setting to change, for SQLite."""
    url = sa.engine.make_url(settings.resolved_sql_url)
    if url.get_backend_name() != "postgresql":
        raise QueueUnavailable(
            "the job queue lives in PostgreSQL: set RAG_SQL_URL=postgresql+psycopg://… "
            "(on the embedded default, rag ingest and uploads run in-process without a queue)"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def open_job_app(settings: Settings) -> procrastinate.App:
    """An app whose ingestion task runs up to `job_attempts` times (`_IngestRetry`).

    The task function is `ingest.jobs.runner.run_job`, handed the worker's `JobRunner` through
    procrastinate's context; deferring needs no runner, so the API and the CLI use the same app."""
    from ingest.jobs.runner import run_job

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(settings), kwargs={"connect_timeout": max(1, int(settings.store_timeout_s))}
        )
    )
    retry = _IngestRetry(runs=settings.job_attempts)
    app.task(name=INGEST_TASK, queue=JOB_QUEUE, pass_context=True, retry=retry)(run_job)
    return app


class _IngestRetry(procrastinate.BaseRetryStrategy):
    """Another run, after 2, 4, 8 … seconds, until the job has had `runs`; none for a document
    that failed on its own content (`DocumentRefused`: the next run would fail the same way), nor
    for a job another worker took over (`JobLost`: its row is that worker's run)."""

    def __init__(self, runs: int) -> None:
        self.runs = runs

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        from ingest.jobs.fence import JobLost
        from ingest.jobs.runner import DocumentRefused

        # `job.attempts` counts the runs before this one; a lost job is another worker's run now
        if isinstance(exception, DocumentRefused | JobLost) or job.attempts + 1 >= self.runs:
            return None
        return procrastinate.RetryDecision(retry_in={"seconds": 2 ** (job.attempts + 1)})


def job_args(kb: str, source: str, *, upload: bool) -> dict[str, Any]:
    """What a job carries: the KB, the document's source, and whether its bytes are an upload."""
    return {"kb": kb, "source": source, "upload": upload}
