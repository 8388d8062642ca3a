"""Ingestion as durable jobs: procrastinate's queue in the ledger's own PostgreSQL.

A job per document (`rag ingest PATH --queue`, or an upload with `RAG_INGEST_QUEUE`), run by
`rag worker` processes on any machine that has the settings. The job is the same ingest the CLI
runs in-process (`IngestPipeline`), so a job run twice writes the same rows, points and nodes
(ids are derived from the KB, the source and the chunk's ordinal; the ledger's content hash skips
what is done). Procrastinate gives what a home-made queue would get wrong: one job per document at
a time (its `lock`), one waiting job per document (`queueing_lock`), retries with backoff,
heartbeats, and the jobs of a worker that died handed to another (`worker.recover_stalled`).
"""

from ingest.jobs.app import JOB_QUEUE, QueueUnavailable, open_job_app
from ingest.jobs.queue import JobQueue, JobView

__all__ = ["JOB_QUEUE", "JobQueue", "JobView", "QueueUnavailable", "open_job_app"]
