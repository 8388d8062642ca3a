"""Ingestion as durable jobs on a real PostgreSQL: `rag ingest --queue`, `rag worker`, `rag jobs`.

Every test gets an empty database of its own on the session's server and a data folder of its own
for the embedded vector and graph stores; the workers are real `rag worker` processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.postgres import create_database, drop_database

pytestmark = pytest.mark.slow


@pytest.fixture
def database(postgres_url: str) -> Iterator[str]:
    url = create_database(postgres_url, "jobs")
    yield url
    drop_database(postgres_url, url)


def _env(data_dir: Path, database: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_SQL_URL": database, **extra}


def _rag(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """A `rag worker` logging each step (`-v`: procrastinate's "Starting job …" among them)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rag", "-v", "worker", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _worker_logging_to(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    """A `rag worker --until-empty` whose log goes to a file, for a test that polls while it runs."""
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "rag", "worker", "--until-empty"], env=env, stderr=stderr, text=True
        )


def _write_docs(folder: Path, count: int, sentences: int = 30) -> None:
    folder.mkdir(parents=True)
    for n in range(count):
        body = " ".join(
            f"In year {1900 + i} engineer {n} of team {n % 4} wrote report {i} about bridge {n * 7}."
            for i in range(sentences)
        )
        (folder / f"doc{n:03}.md").write_text(f"# Document {n}\n\n{body}\n")


def _status(env: dict[str, str]) -> dict[str, object]:
    result = _rag(env, "status", "--kb", "k", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    report.pop("failed", None)
    return report


def _jobs(env: dict[str, str]) -> dict[str, object]:
    result = _rag(env, "jobs", "list", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _job_states(database: str) -> list[tuple[int, str, int]]:
    """(id, status, attempts) of every job, read from the queue's table directly."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            query = "SELECT id, status::text, attempts FROM procrastinate_jobs ORDER BY id"
            return [tuple(row) for row in conn.execute(sa.text(query))]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_three_workers_store_what_one_ingest_stores(tmp_path: Path, database: str, postgres_url: str) -> None:
    corpus = tmp_path / "corpus"
    _write_docs(corpus, 9)
    queued_env = _env(tmp_path / "queued", database)
    enqueued = _rag(queued_env, "ingest", str(corpus), "--kb", "k", "--queue", "--json")
    assert enqueued.returncode == 0, enqueued.stderr
    assert json.loads(enqueued.stdout)["queued"] == 9
    again = _rag(queued_env, "ingest", str(corpus), "--kb", "k", "--queue", "--json")
    assert json.loads(again.stdout)["queued"] == 0  # one waiting job per document
    assert len(json.loads(again.stdout)["already_waiting"]) == 9

    workers = [_worker(queued_env, "--until-empty") for _ in range(3)]
    started = []
    for process in workers:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-2000:]
        started.append(stderr.count("Starting job rag.ingest_document"))
    assert sum(started) == 9  # each job ran once
    assert sum(1 for count in started if count) >= 2  # and the workers shared them
    listed = _jobs(queued_env)
    assert listed["counts"] == {"succeeded": 9}
    assert {job["document_status"] for job in listed["jobs"]} == {"done"}

    reference = create_database(postgres_url, "jobs_ref")
    try:
        clean_env = _env(tmp_path / "clean", reference)
        assert _rag(clean_env, "ingest", str(corpus), "--kb", "k").returncode == 0
        expected = _status(clean_env)
    finally:
        drop_database(postgres_url, reference)
    assert expected["documents"] == {"done": 9}
    assert _status(queued_env) == expected


def _progress(database: str) -> tuple[str, int, int] | None:
    """(status, chunk_count, chunks_indexed) of the one document in the ledger, None before it."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            query = "SELECT status, chunk_count, chunks_indexed FROM documents"
            row = conn.execute(sa.text(query)).first()
    finally:
        engine.dispose()
    return None if row is None else (str(row[0]), int(row[1]), int(row[2]))


def test_a_killed_workers_job_is_taken_over_and_its_progress_only_grows(
    tmp_path: Path, database: str
) -> None:
    env = _long_job(tmp_path, database)  # pages of 128 chunks: progress is seen mid-job
    first = _worker(env)
    deadline = time.monotonic() + 300
    while (progress := _progress(database)) is None or progress[2] == 0:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline, "the worker never indexed a page"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert [state for _, state, _ in _job_states(database)] == ["doing"]  # nobody told the queue
    status, chunks, reached = _progress(database) or ("", 0, 0)
    assert status == "stored" and 0 < reached < chunks
    [job] = _jobs(env)["jobs"]  # type: ignore[misc]
    assert (job["stage"], job["chunks"], job["chunks_indexed"]) == ("indexing", chunks, reached)

    log = tmp_path / "second.log"
    second = _worker_logging_to(env, log)
    seen = []
    while second.poll() is None:  # the takeover embeds from the first chunk, progress stays put
        seen.append(_progress(database)[2])  # type: ignore[index]
        time.sleep(0.1)
    assert second.returncode == 0, log.read_text()[-2000:]
    assert seen and min(seen) >= reached and seen == sorted(seen)
    [(_, state, attempts)] = _job_states(database)
    assert (state, attempts) == ("succeeded", 2)
    assert _progress(database) == ("done", chunks, chunks)
    [job] = _jobs(env)["jobs"]  # type: ignore[misc]
    assert (job["stage"], job["chunks_indexed"]) == ("done", chunks)
    assert _status(env)["documents"] == {"done": 1}


def _job_owner(database: str) -> tuple[str, int | None]:
    """(status, worker id) of the one job, from the queue's table."""
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT status::text, worker_id FROM procrastinate_jobs")).one()
    finally:
        engine.dispose()
    return str(row[0]), row[1]


def _wait(condition: Callable[[], bool], what: str, within_s: float = 300) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _long_job(tmp_path: Path, database: str) -> dict[str, str]:
    """A queued document of some hundreds of short chunks (four pages or more), and its env."""
    corpus = tmp_path / "corpus"
    _write_docs(corpus, 1, sentences=1500)
    env = _env(
        tmp_path / "data", database, RAG_JOB_HEARTBEAT_S="0.5", RAG_JOB_STALLED_S="3", RAG_CHUNK_SIZE="64"
    )
    assert _rag(env, "ingest", str(corpus), "--kb", "k", "--queue").returncode == 0
    return env


def test_a_frozen_worker_whose_job_was_taken_over_exits_without_writing_and_is_replaced(
    tmp_path: Path, database: str
) -> None:
    env = _long_job(tmp_path, database)
    log = tmp_path / "workers.log"
    with log.open("w") as stderr:  # the supervisor's and its workers' logs
        pool = subprocess.Popen(
            [sys.executable, "-m", "rag", "worker", "--concurrency", "2"], env=env, stderr=stderr, text=True
        )
    _wait(lambda: (_progress(database) or ("", 0, 0))[2] > 0, "no worker indexed a page")
    _, owner = _job_owner(database)
    # the worker running the job holds the embedded stores' lock, which names it
    holder = int((tmp_path / "data" / "rag.lock").read_text().split()[1])
    assert Path(f"/proc/{holder}/stat").read_text().split()[3] == str(pool.pid)
    os.kill(holder, signal.SIGSTOP)  # a paused VM: no heartbeat, nothing written, still alive
    try:
        # silent for 3 s: the other worker hands the job back to the queue and takes it itself
        _wait(lambda: _job_owner(database)[1] not in (None, owner), "the job was never taken over")
        status, chunks, reached = _progress(database) or ("", 0, 0)
        assert status == "stored" and reached < chunks
    finally:
        os.kill(holder, signal.SIGCONT)
    # woken, it finds the job another's and leaves at its next write; the supervisor replaces it
    _wait(lambda: "event=worker_replaced" in log.read_text(), "the woken worker was not replaced")
    _wait(lambda: _job_states(database)[0][1] == "succeeded", "the job did not finish", within_s=600)
    pool.send_signal(signal.SIGTERM)
    assert pool.wait(timeout=120) == 0, log.read_text()[-2000:]
    assert "event=job_lost" in log.read_text()
    [(_, _, attempts)] = _job_states(database)
    assert attempts == 2  # the run that took over, reported once
    assert _progress(database) == ("done", chunks, chunks)
    assert _status(env)["documents"] == {"done": 1}


def test_cancelling_a_running_job_stops_it_and_retry_resumes_it(tmp_path: Path, database: str) -> None:
    env = _long_job(tmp_path, database)
    worker = _worker(env, "--until-empty")
    _wait(lambda: (_progress(database) or ("", 0, 0))[2] > 0, "the worker never indexed a page")
    [(job_id, _, _)] = _job_states(database)
    cancelled = _rag(env, "jobs", "cancel", str(job_id), "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 0, stderr[-2000:]
    [(_, state, _)] = _job_states(database)
    assert state == "aborted"
    status, chunks, reached = _progress(database) or ("", 0, 0)
    assert status == "stored" and 0 < reached < chunks  # stopped between pages, resumable

    retried = _rag(env, "jobs", "retry", str(job_id), "--json")
    assert json.loads(retried.stdout)["status"] == "todo", retried.stderr
    assert _rag(env, "worker", "--until-empty").returncode == 0
    assert _job_states(database)[0][1] == "succeeded"
    assert _progress(database) == ("done", chunks, chunks)
    assert _status(env)["documents"] == {"done": 1}


def test_a_store_error_is_retried_then_left_failed_until_asked(tmp_path: Path, database: str) -> None:
    from rag.stores.lock import DataDirLock

    corpus = tmp_path / "corpus"
    _write_docs(corpus, 1)
    data = tmp_path / "data"
    env = _env(data, database, RAG_JOB_ATTEMPTS="2", RAG_JOB_STORE_WAIT_S="0.5")
    assert _rag(env, "ingest", str(corpus), "--kb", "k", "--queue").returncode == 0
    lock = DataDirLock(data)  # another writer holds the embedded stores through both runs
    lock.acquire()
    try:
        blocked = _rag(env, "worker", "--until-empty")
    finally:
        lock.release()
    assert blocked.returncode == 0, blocked.stderr[-2000:]
    [(job_id, state, attempts)] = _job_states(database)
    assert (state, attempts) == ("failed", 2)

    retried = _rag(env, "jobs", "retry", str(job_id), "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "todo"
    assert _rag(env, "worker", "--until-empty").returncode == 0
    [(_, state, _)] = _job_states(database)
    assert state == "succeeded"
    assert _status(env)["documents"] == {"done": 1}


def test_cancelled_and_deleted_documents_jobs_do_not_run(tmp_path: Path, database: str) -> None:
    corpus = tmp_path / "corpus"
    _write_docs(corpus, 3, sentences=5)
    env = _env(tmp_path / "data", database)
    assert _rag(env, "ingest", str(corpus / "doc000.md"), "--kb", "k").returncode == 0
    assert _rag(env, "ingest", str(corpus), "--kb", "k", "--queue").returncode == 0
    jobs = {Path(job["source"]).name: job["id"] for job in _jobs(env)["jobs"]}
    cancelled = _rag(env, "jobs", "cancel", str(jobs["doc001.md"]), "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    # deleting a document cancels its waiting job: the file is still there, the job would bring it back
    deleted = _rag(env, "docs", "delete", str(corpus / "doc000.md"), "--kb", "k")
    assert deleted.returncode == 0, deleted.stderr

    assert _rag(env, "worker", "--until-empty").returncode == 0
    states = {job_id: state for job_id, state, _ in _job_states(database)}
    assert states[jobs["doc000.md"]] == "cancelled"
    assert states[jobs["doc001.md"]] == "cancelled"
    assert states[jobs["doc002.md"]] == "succeeded"
    assert _status(env)["documents"] == {"done": 1}
    missing = _rag(env, "jobs", "show", "999999")
    assert missing.returncode == 2
    assert "no ingestion job 999999" in missing.stderr


def test_the_queue_needs_postgresql(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write_docs(corpus, 1, sentences=2)
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data")}
    env.pop("RAG_SQL_URL", None)
    for args in (("ingest", str(corpus), "--queue"), ("worker", "--until-empty"), ("jobs", "list")):
        result = _rag(env, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "the job queue lives in PostgreSQL" in result.stderr, args
        assert "Traceback" not in result.stderr


def test_an_upload_is_ingested_by_a_worker_from_the_relational_store(tmp_path: Path, database: str) -> None:
    """The bytes live in PostgreSQL, not on the disk of the process that received them: a worker
    process with a data folder of its own ingests them. An upload deleted before its job ran leaves
    neither bytes nor a job that could run."""
    from ingest.jobs import JobQueue
    from rag.config import Settings
    from rag.models import document_id
    from rag.stores.sql import SqlStore

    settings = Settings(data_dir=tmp_path / "api", sql_url=database)
    sql = SqlStore(database)
    try:
        with JobQueue(settings, sql) as queue:
            kept = queue.enqueue_upload(
                "k", "upload:notes.md", "notes.md", b"# Notes\n\nAda Lovelace works in London."
            )
            gone = queue.enqueue_upload("k", "upload:gone.md", "gone.md", b"# Gone\n\nDeleted before it ran.")
        assert kept is not None and gone is not None
        sql.delete_documents([document_id("k", "upload:gone.md")])
        assert sql.waiting_uploads([document_id("k", "upload:gone.md")]) == {}
    finally:
        sql.close()
    env = _env(tmp_path / "worker", database)
    assert _rag(env, "worker", "--until-empty").returncode == 0
    states = {job_id: state for job_id, state, _ in _job_states(database)}
    assert states == {kept: "succeeded", gone: "cancelled"}
    assert _status(env)["documents"] == {"done": 1}
    found = _rag(env, "retrieve", "Where does Ada Lovelace work?", "--kb", "k", "--json")
    assert "Ada Lovelace works in London." in found.stdout


QDRANT_URL = os.environ.get("RAG_TEST_QDRANT_URL", "")
NEO4J_URL = os.environ.get("RAG_TEST_NEO4J_URL", "")


@pytest.mark.neo4j
@pytest.mark.qdrant_server
def test_two_replicas_on_server_stores_share_an_upload_a_worker_ingested(
    tmp_path: Path, database: str
) -> None:
    """Stateless replicas: an upload through one `rag serve` is ingested by a `rag worker` on a
    data folder of its own and answered by another `rag serve`. Needs Qdrant and Neo4j servers
    (the embedded engines accept one writing process, so this shape cannot exist without them)."""
    import uuid

    import httpx

    from tests.servers import free_port, running_server

    if not (QDRANT_URL and NEO4J_URL):
        pytest.skip(
            "needs Qdrant and Neo4j servers: set RAG_TEST_QDRANT_URL=http://host:6333 and "
            "RAG_TEST_NEO4J_URL=bolt://host:7687 (with RAG_TEST_NEO4J_USER / RAG_TEST_NEO4J_PASSWORD)"
        )
    stores = {
        "RAG_VECTOR_URL": QDRANT_URL,
        "RAG_GRAPH_URL": NEO4J_URL,
        "RAG_NEO4J_USER": os.environ.get("RAG_TEST_NEO4J_USER", "neo4j"),
        "RAG_NEO4J_PASSWORD": os.environ.get("RAG_TEST_NEO4J_PASSWORD", ""),
        "RAG_INGEST_QUEUE": "true",
    }
    kb = f"replicas_{uuid.uuid4().hex[:8]}"  # the servers may be shared: a KB of this run's own
    ports = [free_port(), free_port()]
    with (
        running_server(
            [sys.executable, "-m", "rag", "serve", "--port", str(ports[0])],
            _env(tmp_path / "a", database, **stores),
            f"http://127.0.0.1:{ports[0]}/v1",
            tmp_path / "a.log",
            180,
        ) as first,
        running_server(
            [sys.executable, "-m", "rag", "serve", "--port", str(ports[1])],
            _env(tmp_path / "b", database, **stores),
            f"http://127.0.0.1:{ports[1]}/v1",
            tmp_path / "b.log",
            180,
        ) as second,
    ):
        try:
            assert httpx.post(f"{first}/knowledge-bases", json={"name": kb}, timeout=30).status_code == 201
            files = [
                ("files", ("notes.md", b"# Notes\n\nAda Lovelace works at Analytical Engines in London."))
            ]
            upload = httpx.post(f"{first}/knowledge-bases/{kb}/documents", files=files, timeout=60)
            assert upload.status_code == 202, upload.text
            [queued] = upload.json()["documents"]
            assert httpx.get(f"{second}/documents/{queued['id']}", timeout=30).json()["status"] == "queued"
            worked = _rag(_env(tmp_path / "worker", database, **stores), "worker", "--until-empty")
            assert worked.returncode == 0, worked.stderr[-2000:]
            assert httpx.get(f"{second}/documents/{queued['id']}", timeout=30).json()["status"] == "done"
            body = {"question": "Where does Ada Lovelace work?", "kb": kb}
            hits = httpx.post(f"{second}/retrieve", json=body, timeout=60).json()["hits"]
            assert "Analytical Engines in London" in hits[0]["text"]
        finally:
            httpx.delete(f"{first}/knowledge-bases/{kb}", timeout=60)
