"""`rag worker`, `rag jobs list|show|retry|cancel`, and the queue half of `rag ingest --queue`.

The queue lives in the relational store (PostgreSQL), so these commands open that store alone:
they never take the embedded stores' lock, and run beside workers and `rag serve` alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rag.cli.render import Columns, show_rows
from rag.cli.support import JsonOption, fail, load_settings, out, print_json

if TYPE_CHECKING:
    from ingest.jobs import JobQueue

jobs_app = typer.Typer(help="Ingestion jobs on the queue: list, show, retry, cancel.", no_args_is_help=True)
JobId = Annotated[int, typer.Argument(help="The job's id (rag jobs list)")]


@contextmanager
def opened_queue() -> Iterator[JobQueue]:
    """The configured queue and the relational store it lives in, every failure one clear line."""
    from ingest.jobs import JobQueue, QueueUnavailable
    from ingest.jobs.queue import JobNotFound
    from rag.stores.errors import StoreUnavailable
    from rag.stores.sql import SqlStore

    settings = load_settings()
    try:
        sql = SqlStore(settings.resolved_sql_url, timeout=settings.store_timeout_s)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        with JobQueue(settings, sql) as queue:
            yield queue
    except (QueueUnavailable, JobNotFound, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    finally:
        sql.close()


def enqueue(paths: list[Path], kb: str, include: list[str], exclude: list[str], as_json: bool) -> None:
    """`rag ingest PATH --queue`: a job per file, for `rag worker` to run; returns at once."""
    from ingest.walk import PathNotFound

    with opened_queue() as queue:
        try:
            enqueued = queue.enqueue_paths(paths, kb, include, exclude)
        except PathNotFound as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(enqueued.as_dict())
    else:
        out.print(
            f"queued {len(enqueued.jobs)} jobs in {kb!r}"
            + (f", {len(enqueued.waiting)} already waiting" if enqueued.waiting else "")
            + "; rag worker runs them, rag jobs list shows them",
            highlight=False,
        )
        for source, reason in enqueued.refused:
            out.print(f"  refused {source}: {reason}", highlight=False, markup=False)
    if enqueued.refused:
        raise typer.Exit(1)


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes on this machine")] = 1,
    until_empty: Annotated[bool, typer.Option(help="Exit once no job waits or runs")] = False,
) -> None:
    """Run ingestion jobs from the queue (rag ingest --queue, uploads with RAG_INGEST_QUEUE), on
    any machine that has the settings; stop with Ctrl-C."""
    from ingest.jobs import QueueUnavailable
    from ingest.jobs.app import conninfo
    from ingest.jobs.worker import run_workers
    from rag.embed import EmbeddingModelError

    settings = load_settings()
    try:
        conninfo(settings)
        code = run_workers(settings, concurrency, until_empty)
    except (QueueUnavailable, EmbeddingModelError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


_COLUMNS: Columns = {
    "id": lambda row: row["id"],
    "status": lambda row: row["status"],
    "attempts": lambda row: row["attempts"],
    "kb": lambda row: row["kb"],
    "source": lambda row: row["source"] + (" (upload)" if row["upload"] else ""),
    "stage": lambda row: row["stage"],
    "chunks": lambda row: f"{row['chunks_indexed']}/{row['chunks']}" if row["chunks"] else "-",
    "document": lambda row: row["document_status"] or "-",
    "error": lambda row: row["error"] or "",
}


@jobs_app.command("list")
def jobs_list(
    status: Annotated[
        str | None, typer.Option(help="todo, doing, succeeded, failed, cancelled, aborted")
    ] = None,
    kb: Annotated[str | None, typer.Option("--kb", help="Only this knowledge base's jobs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The newest jobs with their state, attempts, and their documents' state in the ledger."""
    from ingest.jobs.queue import JOB_STATES

    if status is not None and status not in JOB_STATES:
        raise fail(f"--status must be one of {', '.join(JOB_STATES)}, not {status!r}")
    with opened_queue() as queue:
        rows = [job.as_dict() for job in queue.list(status, kb, limit)]
        counts = queue.counts()
    if as_json:
        print_json({"counts": counts, "jobs": rows})
        return
    show_rows(rows, False, "ingestion jobs", _COLUMNS)
    out.print(", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "no jobs", highlight=False)


@jobs_app.command("show")
def jobs_show(job_id: JobId, as_json: JsonOption = False) -> None:
    """One job: its state, attempts, document and the document's error, if any."""
    with opened_queue() as queue:
        _print_job(queue.show(job_id).as_dict(), as_json)


@jobs_app.command("retry")
def jobs_retry(job_id: JobId, as_json: JsonOption = False) -> None:
    """Run a failed, cancelled or aborted job again, now."""
    with opened_queue() as queue:
        _print_job(queue.retry(job_id).as_dict(), as_json)


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId, as_json: JsonOption = False) -> None:
    """Cancel a waiting job; a running one stops before its next write (rag jobs retry resumes it)."""
    with opened_queue() as queue:
        _print_job(queue.cancel(job_id).as_dict(), as_json)


def _print_job(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    for name, value in job.items():
        out.print(f"{name:>16}  {'' if value is None else value}", highlight=False, markup=False)
