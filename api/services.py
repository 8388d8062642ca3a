"""What every request needs, opened once per process by the app's lifespan and closed at shutdown."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import Request
from pydantic import SecretStr

from ingest.factory import open_ingest_pipeline
from ingest.jobs import JobQueue
from ingest.jobs.runner import JobRunner
from ingest.jobs.worker import InProcessWorker
from ingest.pipeline import IngestPipeline, IngestSummary
from rag.answer.pipeline import AnswerPipeline, open_pipeline
from rag.config import Settings
from rag.embed import configured_model
from rag.retrieve.factory import AVAILABLE
from rag.stores.factory import Stores, open_stores
from rag.stores.sql.keys import ApiKeys

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    stores: Stores
    pipeline: AnswerPipeline
    keys: ApiKeys
    ingest: IngestPipeline
    #: one ingestion at a time: uploads queue here, in order, off the request threads
    worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
    )
    #: documents uploaded but not yet picked up by the worker (the ledger knows them after that)
    queued: dict[str, str] = field(default_factory=dict)
    queue_lock: threading.Lock = field(default_factory=threading.Lock)
    #: held while documents are written or deleted, so a delete never races an ingest
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    #: fusion weights are learned again after an upload on a thread of their own (a refit is a
    #: hundred retrievals, seconds, which held the upload's reply and the next upload's ingest);
    #: KB → whether one of its uploads embedded documents again, for each KB waiting for a refit
    learner: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="learn")
    )
    learning: dict[str, bool] = field(default_factory=dict)
    #: with `RAG_INGEST_QUEUE`: the job queue uploads go to, and, when this process holds embedded
    #: vector and graph stores (no `rag worker` could write them), the worker thread running them
    jobs: JobQueue | None = None
    job_worker: InProcessWorker | None = None
    #: the credential `rag serve` recorded beside the data-folder lock (`rag.stores.server_record`)
    #: for the CLI of the same OS user; None when the process wrote no record
    local_credential: SecretStr | None = None

    def learn_soon(self, kb: str, summary: IngestSummary) -> None:
        """Learn the KB's fusion weights again, if the upload changed it enough, in the background;
        a KB already waiting is not queued twice, as its refit will see this upload too."""
        with self.queue_lock:
            waiting = kb in self.learning
            self.learning[kb] = self.learning.get(kb, False) or summary.reembedded > 0
        if not waiting:
            try:
                self.learner.submit(self._learn, kb)
            except RuntimeError:  # shutting down: the next ingest of the KB learns them
                with self.queue_lock:
                    self.learning.pop(kb, None)
                raise

    def _learn(self, kb: str) -> None:
        with self.queue_lock:
            reembedded = self.learning.pop(kb)
        try:
            self.ingest.learn(kb, IngestSummary(kb=kb, reembedded=int(reembedded)))
        except Exception:  # a store failing, or the KB deleted meanwhile: the old weights stay
            log.exception("event=fusion_learn_failed kb=%s", kb)

    def close(self) -> None:
        if self.job_worker is not None:
            self.job_worker.stop()
        if self.jobs is not None:
            self.jobs.close()
        self.worker.shutdown(wait=True, cancel_futures=True)
        # a refit still waiting runs before exit: after a restart, a re-embedded KB would keep the
        # old model's weights (the chunk count that triggers a refit did not change)
        self.learner.shutdown(wait=True)
        self.pipeline.close()
        with self.write_lock:  # a job the worker thread could not stop finishes its write first
            self.stores.close()


def open_services(settings: Settings) -> Services:
    stores = open_stores(settings, configured_model(settings), reconnect=True)
    try:
        pipeline = open_pipeline(stores, settings, list(AVAILABLE))
        ingest = open_ingest_pipeline(stores, embedder=pipeline.embedder)
    except Exception:
        stores.close()
        raise
    found = Services(settings, stores, pipeline, ApiKeys(stores.sql.engine), ingest)
    if settings.ingest_queue:
        try:
            found.jobs = JobQueue(settings, stores.sql).open()
            if settings.uses_embedded_store:
                runner = JobRunner(settings, stores, pipeline.embedder, found.write_lock)
                found.job_worker = InProcessWorker(settings, runner)
                found.job_worker.start()
        except Exception:
            found.close()
            raise
    return found


def services(request: Request) -> Services:
    """The dependency that hands a route the open services."""
    return request.app.state.services
