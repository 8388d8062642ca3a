"""PostgreSQL killed (`pg_ctl stop -m immediate`: every backend gone at once, as a crash or an OOM
kill) in the middle of an ingest and between queries, against a real server of the test's own.

An ingest stops with one clear error naming the relational store (its password masked) and
resumes cleanly once the server is back: the same counts as an ingest that was never interrupted.
Queries while it is down fail fast with an error naming the store; once it is back, the same app
answers again without a restart (the pool pings and replaces dead connections).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.stores.errors import StoreUnavailable
from tests.builders import ingest_pipeline, open_test_stores
from tests.corpus import depot_notes
from tests.postgres import PostgresServer, create_database, find_pg_bin, postgres_server

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
FILES = 24
#: a query against a store that is down must not wait anywhere near a request timeout
FAIL_FAST_S = 5.0


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries not found: apt-get install postgresql (then re-run)")
    with postgres_server() as started:
        yield started


class _KillAfter:
    """Ingest progress that kills the server once `after` files are stored."""

    def __init__(self, server: PostgresServer, after: int) -> None:
        self.server, self.after, self.done = server, after, 0

    def files(self, total: int) -> None: ...
    def chunks(self, total: int) -> None: ...
    def chunks_done(self, count: int) -> None: ...

    def file_done(self, source: str) -> None:
        self.done += 1
        if self.done == self.after:
            self.server.stop("immediate")


def _counts(settings: Settings, kb: str) -> dict[str, object]:
    with open_test_stores(settings) as stores:
        report = stores.status(kb)
    return {key: report[key] for key in ("documents", "chunks", "vectors", "entities", "relations")}


def test_an_ingest_cut_by_a_killed_server_stops_clearly_and_resumes_cleanly(
    server: PostgresServer, embedder: Embedder, tmp_path: Path
) -> None:
    docs = depot_notes(tmp_path / "docs", FILES)
    password = sa.engine.make_url(server.url).password or ""
    cut = Settings(data_dir=tmp_path / "cut", sql_url=create_database(server.url, "cut"))
    clean = Settings(data_dir=tmp_path / "clean", sql_url=create_database(server.url, "clean"))
    with open_test_stores(clean) as stores:
        ingest_pipeline(stores, embedder, HeuristicExtractor()).run([docs], "kb")

    with open_test_stores(cut) as stores:
        pipeline = ingest_pipeline(stores, embedder, HeuristicExtractor())
        pipeline.progress = _KillAfter(server, after=FILES // 3)
        with pytest.raises(StoreUnavailable) as stopped:
            pipeline.run([docs], "kb")
    message = str(stopped.value)
    assert message.startswith("relational store postgresql+psycopg://rag:***@127.0.0.1:")
    assert password not in message and "\n" not in message

    server.start()
    with open_test_stores(cut) as stores:
        again = ingest_pipeline(stores, embedder, HeuristicExtractor()).run([docs], "kb")
    # the files stored before the kill are not loaded again: their chunks were in the ledger
    assert (again.failed, again.resumed, again.new) == (0, FILES // 3, FILES - FILES // 3)
    assert _counts(cut, "kb") == _counts(clean, "kb")
    assert _counts(cut, "kb")["documents"] == {"done": FILES}


def test_queries_fail_fast_while_the_server_is_down_and_work_again_when_it_is_back(
    server: PostgresServer, embedder: Embedder, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", sql_url=create_database(server.url, "queries"), answer_max_tokens=16
    )
    with open_test_stores(settings) as stores:
        ingest_pipeline(stores, embedder, HeuristicExtractor()).run([SAMPLES], "demo")
    question = {"question": "When was Northwind Robotics founded?", "kb": "demo"}
    password = sa.engine.make_url(server.url).password or ""
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/retrieve", json=question).json()["hits"]

        server.stop("immediate")
        for route in ("/v1/retrieve", "/v1/query", "/retrieval"):
            started = time.monotonic()
            body = {"knowledge_id": "demo", "query": question["question"], "retrieval_setting": {"top_k": 3}}
            down = client.post(route, json=body if route == "/retrieval" else question)
            elapsed = time.monotonic() - started
            assert down.status_code == 503, (route, down.text)
            assert elapsed < FAIL_FAST_S, (route, elapsed)
            text = down.text
            assert "relational store postgresql+psycopg://rag:***@127.0.0.1:" in text and password not in text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == ["relational"]

        server.start()
        back = client.post("/v1/retrieve", json=question)
        assert back.status_code == 200 and back.json()["sources_failed"] == []
        assert any("2014" in hit["text"] for hit in back.json()["hits"])
        assert client.get("/readyz").json()["checks"]["relational"]["ok"]
