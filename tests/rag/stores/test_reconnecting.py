"""A store whose server did not answer at start-up joins once it does, tried at most once per
retry interval, with the real Qdrant client against a port that refuses, then the embedded engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.models import VectorPoint
from rag.stores.errors import StoreUnavailable
from rag.stores.reconnecting import ReconnectingStore, open_or_reconnect
from rag.stores.vector import open_vector_store
from tests.servers import free_port


def test_a_store_that_could_not_open_is_opened_when_its_server_answers(tmp_path: Path) -> None:
    url = {"now": f"http://127.0.0.1:{free_port()}"}  # nothing listens there: refused

    def open_store() -> object:
        return open_vector_store(url["now"], "chunks", 4, timeout=1)

    store = open_or_reconnect(open_store, "vector store under test", retry_s=0.3)
    assert isinstance(store, ReconnectingStore) and store.description == "vector store under test"
    with pytest.raises(StoreUnavailable, match="is unreachable"):
        store.count("kb")
    url["now"] = str(tmp_path / "vectors")  # the "server" is up now
    with pytest.raises(StoreUnavailable):  # not tried again within the interval
        store.health()
    time.sleep(0.35)
    store.upsert(
        [VectorPoint(id="00000000-0000-0000-0000-000000000001", vector=[1, 0, 0, 0], payload={"kb": "kb"})]
    )
    assert store.count("kb") == 1 and store.search([1, 0, 0, 0], "kb", 1)[0].score > 0.99
    store.close()


def test_a_store_that_opens_is_itself(tmp_path: Path) -> None:
    store = open_or_reconnect(lambda: open_vector_store(str(tmp_path / "v"), "chunks", 4), "vector store")
    assert not isinstance(store, ReconnectingStore)
    store.close()
