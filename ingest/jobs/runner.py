"""What a worker does with one ingestion job: the same pipeline `rag ingest` runs, on one document.

A `JobRunner` lives as long as its worker process and loads the embedding model once. Its stores
depend on where they live:
- all on servers (PostgreSQL, Qdrant, Neo4j): opened once, every job of the process writes through
  them, and workers on any number of machines write side by side;
- any embedded store (a Qdrant Edge or Kùzu folder): one process may write it at a time (the data
  folder's lock), so workers take turns: each job waits for the lock (up to
  `RAG_JOB_STORE_WAIT_S`), opens the stores (about 20 ms), ingests and closes them. Several
  workers on one machine then share the parsing, not the writing: the honest limit of a folder.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import procrastinate
from procrastinate.exceptions import JobAborted

from ingest.factory import open_ingest_pipeline
from ingest.jobs.fence import EXIT_JOB_LOST, JobCancelled, JobLost, check_job
from ingest.jobs.queue import waiting_jobs
from ingest.pipeline import IngestPipeline, IngestSummary
from rag.config import Settings
from rag.embed import Embedder, configured_model, open_embedder
from rag.stores.factory import Stores, open_stores
from rag.stores.lock import StoreLocked

log = logging.getLogger(__name__)

#: the longest pause between two tries for the embedded stores' lock
_TURN_POLL_S = 0.5


class DocumentRefused(Exception):
    """The document itself failed (unreadable, refused, too large): another run would fail the
    same way, so the job fails at once instead of being retried (`ingest.jobs.app`)."""


class JobRunner:
    """The stores and the loaded embedding model of one worker process."""

    def __init__(
        self,
        settings: Settings,
        shared: Stores | None = None,
        embedder: Embedder | None = None,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """A worker process's runner; or, with `shared`, one inside `rag serve` on the stores it
        holds (embedded ones cannot be opened by a second process), with its loaded `embedder`,
        writing under its `write_lock` as its uploads and deletes do."""
        self.settings = settings
        self.embedding = shared.embedding if shared is not None else configured_model(settings)
        self.embedder: Embedder = embedder or open_embedder(self.embedding, settings.embed_batch_size)
        self._kept = shared
        #: a worker process of its own (`rag worker`), not a thread of `rag serve`
        self.owns_stores = shared is None
        self._write_lock = write_lock or nullcontext()

    @contextmanager
    def stores(self) -> Iterator[Stores]:
        """The stores for one job: the process's own when all are servers (or `shared`), else a
        turn on the embedded ones (raises StoreLocked after `job_store_wait_s`; the job is retried)."""
        if not self.owns_stores or not self.settings.uses_embedded_store:
            if self._kept is None:
                self._kept = open_stores(self.settings, self.embedding)
            with self._write_lock:
                yield self._kept
            return
        stores = self._take_turn()
        try:
            yield stores
        finally:
            stores.close()

    def _take_turn(self) -> Stores:
        deadline = time.monotonic() + self.settings.job_store_wait_s
        while True:
            try:
                return open_stores(self.settings, self.embedding)
            except StoreLocked:
                if time.monotonic() >= deadline:
                    raise
            # jittered, so workers released together do not collide again
            time.sleep(random.uniform(_TURN_POLL_S / 5, _TURN_POLL_S))

    def ingest(
        self, kb: str, source: str, upload: bool, job: procrastinate.JobContext | None = None
    ) -> IngestSummary:
        """Ingest the document `source` of `kb`: the file at that path, or the upload of that
        name that waits in the relational store (gone when its document was deleted: nothing to
        do). Raises DocumentRefused when the document failed; store errors propagate. With the
        `job` it runs for, every write first checks that the job is still this worker's and not
        cancelled (`fence.check_job`)."""
        with self.stores() as stores:
            pipeline = open_ingest_pipeline(stores, embedder=self.embedder)
            if job is not None:
                pipeline.checkpoint = partial(check_job, job, stores.sql.engine)
            if upload:
                summary = self._ingest_upload(stores, pipeline, kb, source)
            else:
                summary = pipeline.run([Path(source)], kb, learn=False)
            if summary is None:
                return IngestSummary(kb=kb)
            # a refit is a hundred retrievals: once the KB's last waiting job has run, not after
            # each of a folder's jobs (the weights tolerate a tenth of change, `needs_refit`)
            if not waiting_jobs(stores.sql.engine, kb):
                pipeline.learn(kb, summary)
        if summary.failures:
            failure = summary.failures[0]
            raise DocumentRefused(f"{failure.stage}: {failure.error}")
        return summary

    @staticmethod
    def _ingest_upload(
        stores: Stores, pipeline: IngestPipeline, kb: str, source: str
    ) -> IngestSummary | None:
        from rag.models import document_id

        upload_id = document_id(kb, source)
        upload = stores.sql.upload(upload_id)
        if upload is None:
            log.info("event=job_upload_gone kb=%s document=%s", kb, upload_id)
            return None
        with tempfile.TemporaryDirectory(prefix="rag-job-") as folder:
            path = Path(folder) / Path(upload.file_name).name
            path.write_bytes(upload.content)
            summary: IngestSummary = pipeline.run_file(path, kb, source)
        # stored, or refused with its reason in the ledger: either way no run needs the bytes again
        pipeline.checkpoint()
        stores.sql.delete_uploads([upload_id])
        return summary

    def close(self) -> None:
        if self._kept is not None and self.owns_stores:
            self._kept.close()
            self._kept = None


def run_job(context: procrastinate.JobContext, kb: str, source: str, upload: bool) -> dict[str, Any]:
    """The ingestion task: the worker's runner ingests one document; what it did is the job's
    result, which the worker logs with the job's end.

    A job cancelled while it ran ends as procrastinate's `aborted`. A job found given to another
    worker ends this worker process at once (`fence`): anything it reported would land on the
    other worker's run. Inside `rag serve` (the runner does not own its stores) the server is
    not ended: the job is reported failed, which lands on the other run's row (procrastinate's
    finish has no owner check), and is not retried, so no third run starts beside the other."""
    runner: JobRunner = context.additional_context["runner"]
    try:
        summary = runner.ingest(kb, source, upload, job=context)
    except JobCancelled as exc:
        raise JobAborted(str(exc)) from None
    except JobLost as exc:
        if runner.owns_stores:
            log.error("event=job_lost %s: this worker stops without writing or reporting it", exc)
            logging.shutdown()
            os._exit(EXIT_JOB_LOST)
        # rag serve cannot exit for it: the job is reported failed, unretried (`_IngestRetry`)
        log.error("event=job_lost %s: reported failed; rag jobs retry runs it again", exc)
        raise
    return {
        key: value
        for key, value in summary.as_dict().items()
        if key in ("new", "changed", "unchanged", "resumed", "chunks", "vectors", "entities", "seconds")
    }
