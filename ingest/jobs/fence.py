"""Whether a running job is still this worker's to write: the checkpoint the pipeline calls before
each write of a job (`IngestPipeline.checkpoint`).

It is a check before each write, not a condition inside the write (Qdrant and Neo4j cannot
compare-and-set on PostgreSQL's row): what a frozen worker can still write after waking is the
one statement between its check and its write, of content the run that took over writes again.

The queue hands the job of a worker silent for `RAG_JOB_STALLED_S` to another worker. A worker
that was only frozen (a paused VM, a stopped process, a long network partition) wakes up still
running it. Before it writes again, this checkpoint compares the job's row with what the worker
fetched (compare-and-set on the queue's own row: still `doing`, still its `worker_id`); a job
given to another worker raises `JobLost`, and the worker process exits at once (`run_job`),
without writing another row, point or node, and without reporting the job, whose row is now the
other worker's (procrastinate would mark it failed or succeeded under the new worker's feet).

The same checkpoint stops a job that `rag jobs cancel` asked to abort: its document stays
`stored` with its progress, and `rag jobs retry` (or the next ingest) resumes it.
"""

from __future__ import annotations

import procrastinate
import sqlalchemy as sa

from ingest.pipeline import RunStopped

#: the exit code of a worker that found its job taken over (EX_TEMPFAIL: run it again)
EXIT_JOB_LOST = 75

_OWNER = sa.text("SELECT status::text AS status, worker_id FROM procrastinate_jobs WHERE id = :id")


class JobLost(RunStopped):
    """The queue gave this worker's job to another worker: this one must stop writing."""


class JobCancelled(RunStopped):
    """`rag jobs cancel` asked the running job to abort."""


def check_job(context: procrastinate.JobContext, engine: sa.Engine) -> None:
    """Raise JobLost when the job is no longer this worker's, else JobCancelled when it was asked
    to abort (cancelled, or the worker is shutting down: procrastinate retries that one)."""
    with engine.connect() as conn:
        row = conn.execute(_OWNER, {"id": context.job.id}).first()
    if row is None or row.status != "doing" or row.worker_id != context.job.worker_id:
        held = "gone" if row is None else f"{row.status} on worker {row.worker_id}"
        raise JobLost(f"job {context.job.id} of worker {context.job.worker_id} is now {held}")
    if (reason := context.abort_reason()) is not None:
        raise JobCancelled(f"job {context.job.id} stopped while it ran ({reason.value})")
