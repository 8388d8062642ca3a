"""A store server that does not answer: a socket at the Qdrant or Neo4j URL that accepts
connections and never replies (a hung server, a half-open firewall), met by the real clients.

`rag ingest` stops with one error naming the store and its URL, the password masked. `rag serve`
starts all the same: `/readyz` names the store as down, and retrieval answers from the other
stores within the retriever deadline, naming the missing one (`rag.stores.reconnecting`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from rag.cli.app import app as cli
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from tests.builders import ingest_pipeline, open_test_stores
from tests.secrets_in_logs import SESSION

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
QUESTION = "When was Northwind Robotics founded?"
PASSWORD = SESSION.secret("blackhole-password-0123", "the password of a store that never answers") or ""
STORE_TIMEOUT_S = 2.0
DEADLINE_S = 3.0


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port that accepts every connection and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def _hung(store: str, port: int) -> dict[str, str]:
    """The settings that point `store` at the black hole, with a password that must stay masked."""
    if store == "vector":
        return {"vector_url": f"http://rag:{PASSWORD}@127.0.0.1:{port}"}
    return {"graph_url": f"bolt://127.0.0.1:{port}", "neo4j_password": PASSWORD}


@pytest.mark.parametrize("store", ["vector", "graph"])
def test_ingest_stops_naming_the_store_and_its_url(store: str, blackhole: int, tmp_path: Path) -> None:
    env = {f"RAG_{key.upper()}": value for key, value in _hung(store, blackhole).items()}
    env |= {"RAG_DATA_DIR": str(tmp_path / "data"), "RAG_STORE_TIMEOUT_S": str(STORE_TIMEOUT_S)}
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["ingest", str(SAMPLES), "--kb", "demo"], env={**env, "COLUMNS": "250"})
    took = time.monotonic() - started
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2 and took < STORE_TIMEOUT_S * 5, (result.stderr, took)
    named = (
        f"qdrant:http://rag:***@127.0.0.1:{blackhole}"
        if store == "vector"
        else f"neo4j:bolt://127.0.0.1:{blackhole}"
    )
    assert (
        message.startswith(f"error: {store} store {named}") and PASSWORD not in result.output + result.stderr
    )


@pytest.mark.parametrize("store", ["vector", "graph"])
def test_the_service_starts_and_answers_from_the_other_stores(
    store: str, blackhole: int, tmp_path: Path, embedder: Embedder
) -> None:
    data = tmp_path / "data"
    with open_test_stores(Settings(data_dir=data)) as stores:  # everything embedded, ingested
        ingest_pipeline(stores, embedder, HeuristicExtractor()).run([SAMPLES], "demo")
    settings = Settings(
        data_dir=data,
        store_timeout_s=STORE_TIMEOUT_S,
        retriever_timeout_s=DEADLINE_S,
        **_hung(store, blackhole),
    )
    with TestClient(create_app(settings)) as client:  # starts although the store does not answer
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == [store]
        # an orchestrator's probe that needs only the ledger keeps this replica in its load balancer
        probe = client.get("/readyz", params={"require": "relational"})
        assert probe.status_code == 200 and probe.json()["down"] == [store]
        assert f"127.0.0.1:{blackhole}" in ready.json()["checks"][store]["detail"]
        for _ in range(2):  # the store tried again (a connect timeout), then refused at once
            started = time.monotonic()
            found = client.post("/v1/retrieve", json={"question": QUESTION, "kb": "demo"})
            took = time.monotonic() - started
            assert found.status_code == 200 and took < DEADLINE_S + 2, (found.text, took)
            [failed] = found.json()["sources_failed"]
            assert failed["source"] == store and f"127.0.0.1:{blackhole}" in failed["reason"]
            assert PASSWORD not in found.text
            assert any("2014" in hit["text"] for hit in found.json()["hits"])
        body = {"knowledge_id": "demo", "query": QUESTION, "retrieval_setting": {"top_k": 3}}
        assert client.post("/retrieval", json=body).json()["records"]
        assert client.get("/healthz").status_code == 200
