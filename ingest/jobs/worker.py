"""`rag worker`: processes that take ingestion jobs from the queue, on any machine with the settings.

Each process runs one job at a time: ingestion is CPU-bound Python (parsing, the embedding model)
and a process is what gives it a core. `--concurrency N` starts N processes of the same command
under this one, which supervises them. Every process heartbeats to the queue; one that stops heartbeating for
`RAG_JOB_STALLED_S` (killed, its machine gone) is taken for dead, and every live worker hands its
running jobs back to the queue (`recover_stalled`): the next worker runs them again from the
ledger's last state, which every write of a run makes safe (upserts by id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import procrastinate

from ingest.jobs.app import JOB_QUEUE, open_job_app
from ingest.jobs.fence import EXIT_JOB_LOST
from ingest.jobs.runner import JobRunner
from rag.config import Settings

log = logging.getLogger(__name__)


def run_workers(settings: Settings, concurrency: int, until_empty: bool) -> int:
    """Run `concurrency` worker processes; the exit code of the worst.

    One is this process itself; with more, this process runs no job and supervises them: it
    passes SIGTERM and SIGINT on, and starts a new worker in place of one that left because its
    job was given to another worker while it was frozen (`fence`, exit 75), so the pool keeps its
    size (a supervisor above restarts this process the same way)."""
    if concurrency == 1:
        return run_worker(settings, until_empty)
    command = [sys.executable, "-m", "rag", "worker", *(["--until-empty"] if until_empty else [])]
    workers = [subprocess.Popen(command) for _ in range(concurrency)]
    stopping = threading.Event()

    def pass_on(signum: int, _frame: object) -> None:
        stopping.set()
        for process in workers:
            if process.poll() is None:
                process.send_signal(signum)

    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGTERM, signal.SIGINT)}
    codes: list[int] = []
    try:
        while workers:
            for process in [p for p in workers if p.poll() is not None]:
                workers.remove(process)
                if process.returncode == EXIT_JOB_LOST and not stopping.is_set():
                    log.warning("event=worker_replaced pid=%s: its job went to another worker", process.pid)
                    workers.append(subprocess.Popen(command))
                else:
                    codes.append(process.returncode)
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return max(codes, default=0)


def run_worker(settings: Settings, until_empty: bool) -> int:
    """One worker process until it is stopped (SIGINT, SIGTERM) or, with `until_empty`, until no
    job is waiting or running anywhere (a job running on another worker may fail and come back)."""
    runner = JobRunner(settings)
    try:
        asyncio.run(_work(settings, runner, until_empty))
    finally:
        runner.close()
    return 0


class InProcessWorker:
    """A worker on a thread of `rag serve`, for uploads queued while it holds embedded vector and
    graph stores: no other process may write them, so the server runs their jobs itself (one at
    a time, under its write lock), and a queued upload still survives a restart in the queue."""

    def __init__(self, settings: Settings, runner: JobRunner) -> None:
        self.settings, self.runner = settings, runner
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="job-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(
            _work(self.settings, self.runner, until_empty=False, signals=False)
        )
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; a job running is cancelled and goes back to the queue on restart
        (procrastinate's stalled-job recovery)."""
        if self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout)


async def _work(settings: Settings, runner: JobRunner, until_empty: bool, signals: bool = True) -> None:
    app = open_job_app(settings)
    options = {
        "queues": [JOB_QUEUE],
        "concurrency": 1,
        "name": f"rag-worker-{os.getpid()}",
        "update_heartbeat_interval": settings.job_heartbeat_s,
        "stalled_worker_timeout": settings.job_stalled_s,
        "additional_context": {"runner": runner},
        "delete_jobs": "never",
        "install_signal_handlers": signals,
    }
    async with app.open_async():
        recovery = asyncio.create_task(_recover_forever(app, settings))
        try:
            if not until_empty:
                await app.run_worker_async(**options, wait=True)
                return
            while True:
                await recover_stalled(app, settings)
                await app.run_worker_async(**{**options, "install_signal_handlers": False}, wait=False)
                if not await _pending(app):
                    return
                await asyncio.sleep(min(1.0, settings.job_heartbeat_s))
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery


async def recover_stalled(app: procrastinate.App, settings: Settings) -> int:
    """Hand the running jobs of workers silent for `job_stalled_s` back to the queue; how many."""
    stalled = await app.job_manager.get_stalled_jobs(
        queue=JOB_QUEUE, seconds_since_heartbeat=settings.job_stalled_s
    )
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job, retry_at=datetime.now(UTC))
        log.warning("event=job_recovered job=%s previous_worker=%s", job.id, job.worker_id)
        count += 1
    return count


async def _recover_forever(app: procrastinate.App, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.job_stalled_s / 2)
        try:
            await recover_stalled(app, settings)
        except Exception as exc:  # the queue's database away for a moment: try again next round
            log.warning("event=job_recovery_failed error=%s", type(exc).__name__)


async def _pending(app: procrastinate.App) -> bool:
    """Whether any job of the queue waits (at any scheduled time) or runs."""
    row = await app.connector.execute_query_one_async(query=_PENDING, queue=JOB_QUEUE)
    return bool(row["pending"])


_PENDING = (
    "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE queue_name = %(queue)s"
    " AND status IN ('todo', 'doing')) AS pending"
)
