"""The vector store contract, checked on the embedded engine and on qdrant-client's local mode.

Local mode stands in for the server's API here; the real server runs when
RAG_TEST_QDRANT_URL names one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from rag.models import VectorPoint, chunk_id, document_id
from rag.stores.errors import StoreUnavailable
from rag.stores.vector import QdrantCluster, VectorStore, collection_name, open_vector_store
from rag.stores.vector.edge import EdgeVectorStore
from rag.stores.vector.qdrant import QdrantVectorStore
from tests.builders import REPO

DIM = 8
COLLECTION = collection_name("test-model", DIM)

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")

Opener = Callable[[], VectorStore]


@pytest.fixture(params=["edge", "qdrant-local"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store on the same folder each call, so a test can close and reopen it."""
    opened: list[VectorStore] = []

    def open_store() -> VectorStore:
        if request.param == "edge":
            store: VectorStore = EdgeVectorStore(tmp_path / "vectors", COLLECTION, DIM)
        else:
            store = QdrantVectorStore(str(tmp_path / "qdrant"), COLLECTION, DIM, local=True)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> VectorStore:
    return opener()


def unit(axis: int, wobble: float = 0.0) -> list[float]:
    """A vector near the given axis, so the nearest neighbour of each query is known."""
    vector = [wobble] * DIM
    vector[axis] = 1.0
    return vector


def point(kb: str, source: str, ordinal: int, vector: list[float], **extra: object) -> VectorPoint:
    doc = document_id(kb, source)
    payload = {"kb": kb, "document_id": doc, "ordinal": ordinal, **extra}
    return VectorPoint(id=chunk_id(doc, ordinal), vector=vector, payload=payload)


def test_search_returns_the_nearest_point_first_with_its_payload(store: VectorStore) -> None:
    points = [point("a", "doc.txt", i, unit(i, 0.1)) for i in range(4)]
    store.upsert(points)

    hits = store.search(unit(2), kb="a", top_k=3)

    assert hits[0].id == points[2].id
    assert hits[0].payload == points[2].payload
    assert len(hits) == 3
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_search_in_one_kb_never_returns_another_kbs_points(store: VectorStore) -> None:
    store.upsert([point("a", "x.txt", 0, unit(0)), point("b", "x.txt", 0, unit(0))])
    store.upsert([point("b", "y.txt", i, unit(i % DIM)) for i in range(20)])

    hits = store.search(unit(0), kb="a", top_k=10)

    assert [h.payload["kb"] for h in hits] == ["a"]
    assert store.search(unit(0), kb="nobody", top_k=10) == []


def test_delete_documents_removes_only_their_points(store: VectorStore) -> None:
    store.upsert([point("a", "keep.txt", i, unit(i)) for i in range(3)])
    store.upsert([point("a", "drop.txt", i, unit(i)) for i in range(3)])
    store.upsert([point("b", "drop.txt", 0, unit(0))])

    store.delete_documents("a", [document_id("a", "drop.txt")])

    assert store.count("a") == 3
    assert store.count("b") == 1
    assert {h.payload["document_id"] for h in store.search(unit(0), "a", 10)} == {
        document_id("a", "keep.txt")
    }
    store.delete_documents("a", [])
    assert store.count("a") == 3


def test_delete_documents_is_scoped_to_the_kb(store: VectorStore) -> None:
    """A document id given with the wrong kb deletes nothing."""
    store.upsert([point("b", "doc.txt", 0, unit(0))])

    store.delete_documents("a", [document_id("b", "doc.txt")])

    assert store.count("b") == 1


def test_delete_kb_removes_all_of_it_and_nothing_else(store: VectorStore) -> None:
    store.upsert([point("a", f"{i}.txt", 0, unit(i)) for i in range(5)])
    store.upsert([point("b", "doc.txt", 0, unit(0))])

    store.delete_kb("a")

    assert store.count("a") == 0
    assert store.count("b") == 1
    assert store.search(unit(0), "a", 5) == []


def test_count_in_total_and_per_kb(store: VectorStore) -> None:
    assert store.count() == 0
    store.upsert([point("a", "doc.txt", i, unit(i)) for i in range(3)])
    store.upsert([point("b", "doc.txt", i, unit(i)) for i in range(2)])

    assert (store.count(), store.count("a"), store.count("b"), store.count("c")) == (5, 3, 2, 0)


def test_re_upserting_the_same_ids_replaces_instead_of_duplicating(store: VectorStore) -> None:
    first = [point("a", "doc.txt", i, unit(i)) for i in range(4)]
    store.upsert(first)
    again = [point("a", "doc.txt", i, unit(i), version=2) for i in range(4)]
    store.upsert(again)

    assert store.count() == 4
    hits = store.search(unit(1), "a", 10)
    assert len(hits) == 4
    assert all(h.payload["version"] == 2 for h in hits)


def test_upsert_takes_more_than_one_batch(store: VectorStore) -> None:
    rng = np.random.default_rng(7)
    points = [point("a", "big.txt", i, rng.standard_normal(DIM).tolist()) for i in range(1000)]

    store.upsert(points)

    assert store.count("a") == 1000
    assert store.search(points[500].vector, "a", 1)[0].id == points[500].id


def test_points_survive_close_and_reopen(opener: Opener) -> None:
    store = opener()
    points = [point("a", "doc.txt", i, unit(i)) for i in range(3)]
    store.upsert(points)
    store.optimize()
    store.upsert([point("a", "late.txt", 0, unit(5))])
    store.close()

    reopened = opener()

    assert reopened.count("a") == 4
    assert reopened.search(unit(1), "a", 1)[0].id == points[1].id
    assert reopened.search(unit(5), "a", 1)[0].payload["document_id"] == document_id("a", "late.txt")


def test_filters_match_exact_values_and_lists_match_any(store: VectorStore) -> None:
    store.upsert(
        [
            point("a", "en.md", 0, unit(0), lang="en", page=1, draft=False),
            point("a", "de.md", 0, unit(0, 0.1), lang="de", page=2, draft=True),
            point("a", "fr.md", 0, unit(0, 0.2), lang="fr", page=3, draft=False),
        ]
    )

    def langs(filters: dict[str, object]) -> set[str]:
        return {h.payload["lang"] for h in store.search(unit(0), "a", 10, filters=filters)}

    assert langs({"lang": "de"}) == {"de"}
    assert langs({"lang": ["de", "fr"]}) == {"de", "fr"}
    assert langs({"page": 3}) == {"fr"}
    assert langs({"draft": False}) == {"en", "fr"}
    assert langs({"lang": "en", "page": 2}) == set()
    assert langs({"document_id": document_id("a", "de.md")}) == {"de"}
    with pytest.raises(ValueError, match="unsupported value"):
        store.search(unit(0), "a", 10, filters={"lang": {"nested": 1}})


def test_health_passes_when_open_and_fails_clearly_when_closed(store: VectorStore) -> None:
    store.health()
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.health()
    store.close()  # twice is fine


def test_edge_reopen_with_another_dimension_is_a_clear_error(tmp_path: Path) -> None:
    EdgeVectorStore(tmp_path, "c", DIM).close()
    with pytest.raises(StoreUnavailable, match="RAG_EMBED_MODEL"):
        EdgeVectorStore(tmp_path, "c", DIM * 2)


def test_qdrant_collection_of_another_dimension_is_a_clear_error(tmp_path: Path) -> None:
    QdrantVectorStore(str(tmp_path), "c", DIM, local=True).close()
    with pytest.raises(StoreUnavailable, match="RAG_EMBED_MODEL"):
        QdrantVectorStore(str(tmp_path), "c", DIM * 2, local=True)


def test_edge_recovers_writes_of_a_killed_process(tmp_path: Path) -> None:
    """Nothing is flushed before the kill; the write-ahead log brings it all back."""
    script = f"""
import os, sys
from rag.models import VectorPoint
from rag.stores.vector.edge import EdgeVectorStore
store = EdgeVectorStore({str(tmp_path)!r}, "c", {DIM})
store.upsert([VectorPoint(id=str(__import__('uuid').uuid4()), vector=[1.0] * {DIM},
              payload={{"kb": "a", "document_id": str(i)}}) for i in range(300)])
store.delete_documents("a", ["0", "1"])
os.kill(os.getpid(), 9)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=120)
    assert done.returncode == -9

    store = EdgeVectorStore(tmp_path, "c", DIM)
    try:
        assert store.count("a") == 298
    finally:
        store.close()


def test_edge_refuses_a_second_process_while_the_first_holds_the_store(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path, "c", DIM)
    try:
        script = f"""
from rag.stores.errors import StoreUnavailable
from rag.stores.vector.edge import EdgeVectorStore
try:
    EdgeVectorStore({str(tmp_path)!r}, "c", {DIM})
except StoreUnavailable as exc:
    print("refused:", exc)
"""
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "refused:" in done.stdout, done.stderr
        assert "open in another process" in done.stdout
        store.health()
    finally:
        store.close()


def test_factory_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    store = open_vector_store(str(tmp_path / "vectors"), COLLECTION, DIM)
    try:
        assert isinstance(store, EdgeVectorStore)
        assert store.description == f"qdrant-edge:{tmp_path / 'vectors' / COLLECTION}"
    finally:
        store.close()
    with pytest.raises(StoreUnavailable, match="not supported"):
        open_vector_store("grpc://localhost:6334", COLLECTION, DIM)


def test_collection_name_carries_model_and_dimension() -> None:
    assert collection_name("all-MiniLM-L6-v2", 384) == "chunks__all-minilm-l6-v2__384"
    assert collection_name("BAAI/bge-m3", 1024) == "chunks__baai-bge-m3__1024"
    with pytest.raises(ValueError):
        collection_name("///", 384)


def test_unreachable_server_raises_store_unavailable_naming_the_url() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        open_vector_store("http://127.0.0.1:9", COLLECTION, DIM, api_key="sekrit-key", timeout=1)
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert "http://127.0.0.1:9" in message
    assert "sekrit-key" not in message
    assert caught.value.__cause__ is None  # no inner library traceback chained to it


@pytest.mark.qdrant_server
def test_real_qdrant_server_round_trip() -> None:
    url = os.environ.get("RAG_TEST_QDRANT_URL")
    if not url:
        pytest.skip("set RAG_TEST_QDRANT_URL=http://localhost:6333 to run against a Qdrant server")
    api_key = os.environ.get("RAG_TEST_QDRANT_API_KEY")
    collection = f"test__{uuid.uuid4().hex[:12]}__{DIM}"
    store = open_vector_store(url, collection, DIM, api_key=api_key)
    assert isinstance(store, QdrantVectorStore)
    try:
        store.health()
        store.upsert([point("a", "doc.txt", i, unit(i)) for i in range(3)])
        store.upsert([point("b", "doc.txt", 0, unit(1))])
        assert store.search(unit(1), "a", 1)[0].payload["ordinal"] == 1
        assert {h.payload["kb"] for h in store.search(unit(1), "a", 10)} == {"a"}
        store.delete_documents("a", [document_id("a", "doc.txt")])
        assert (store.count("a"), store.count("b")) == (0, 1)
        store.delete_kb("b")
        assert store.count() == 0
    finally:
        store.close()
        cleanup = QdrantClient(url=url, api_key=api_key, check_compatibility=False)
        cleanup.delete_collection(collection)
        cleanup.close()


@pytest.mark.qdrant_server
def test_a_server_collection_takes_the_cluster_shape_and_the_kb_as_its_tenant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = os.environ.get("RAG_TEST_QDRANT_URL")
    if not url:
        pytest.skip("set RAG_TEST_QDRANT_URL=http://localhost:6333 to run against a Qdrant server")
    api_key = os.environ.get("RAG_TEST_QDRANT_API_KEY")
    collection = f"test__{uuid.uuid4().hex[:12]}__{DIM}"
    client = QdrantClient(url=url, api_key=api_key, check_compatibility=False)
    try:
        store = open_vector_store(url, collection, DIM, api_key=api_key, cluster=QdrantCluster(shards=2))
        store.upsert([point("a", "doc.txt", i, unit(i)) for i in range(3)])
        store.close()
        info = client.get_collection(collection)
        assert (info.config.params.shard_number, info.config.params.replication_factor) == (2, 1)
        assert info.payload_schema["kb"].params.is_tenant is True
        # a collection keeps its shards: reopening with another count says so and changes nothing
        store = open_vector_store(url, collection, DIM, api_key=api_key, cluster=QdrantCluster(shards=3))
        assert store.count("a") == 3
        store.close()
        assert "event=vector_cluster_differs" in caplog.text
        assert client.get_collection(collection).config.params.shard_number == 2
    finally:
        client.delete_collection(collection)
        client.close()
