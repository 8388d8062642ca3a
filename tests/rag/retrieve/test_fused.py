"""Retrievers side by side on real stores: fusion, and a failing or late source costing only its share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli.app import app
from rag.config import Settings
from rag.embed import Embedder
from rag.retrieve.fused import FusedRetriever
from rag.retrieve.keyword import KeywordRetriever
from rag.retrieve.vector import VectorRetriever
from rag.stores.factory import Stores
from tests.builders import ingest_folders, open_test_stores

DOCS = {
    "volcano.md": "Mount Etna on Sicily is one of the most active volcanoes; eruptions reshape the island.",
    "beer.md": "Zymurgy is the branch of chemistry that studies fermentation in brewing and winemaking.",
    "rail.md": "The Glacier Express crosses the Alps between Zermatt and St. Moritz in about eight hours.",
}
WEIGHTS = {"vector": 1.0, "keyword": 1.0}


@pytest.fixture
def data_dir(tmp_path: Path, embedder: Embedder) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    settings = Settings(data_dir=tmp_path / "data")
    with open_test_stores(settings) as stores:
        ingest_folders(stores, embedder, {"kb": folder})
    return settings.data_dir


@pytest.fixture
def stores(data_dir: Path) -> Iterator[Stores]:
    with open_test_stores(Settings(data_dir=data_dir)) as opened:
        yield opened


def test_a_chunk_found_by_both_retrievers_comes_first_with_both_ranks(
    stores: Stores, embedder: Embedder
) -> None:
    retrievers = [
        VectorRetriever(stores.vector, stores.sql, embedder, stores.collection),
        KeywordRetriever(stores.sql),
    ]
    found = FusedRetriever(retrievers, WEIGHTS, timeout_s=30).retrieve("What does zymurgy study?", "kb", 3)
    assert found.failed == []
    assert set(found.results) == {"vector", "keyword"}
    best = found.hits[0]
    assert "Zymurgy" in best.hit.text
    assert best.ranks == {"vector": 1, "keyword": 1}
    assert {"vector", "keyword", "total"} <= set(found.timings_ms)


def test_a_store_that_fails_costs_its_share_not_the_answer(stores: Stores, embedder: Embedder) -> None:
    stores.vector.close()  # the vector store goes away mid-session
    retrievers = [
        VectorRetriever(stores.vector, stores.sql, embedder, stores.collection),
        KeywordRetriever(stores.sql),
    ]
    found = FusedRetriever(retrievers, WEIGHTS, timeout_s=30).retrieve("Glacier Express Alps", "kb", 3)
    assert [f.source for f in found.failed] == ["vector"]
    assert found.failed[0].reason
    assert "Glacier Express" in found.hits[0].hit.text
    assert found.hits[0].ranks == {"keyword": 1}


def test_a_retriever_past_its_deadline_is_reported_and_not_waited_for(
    stores: Stores, embedder: Embedder
) -> None:
    retrievers = [VectorRetriever(stores.vector, stores.sql, embedder, stores.collection)]
    found = FusedRetriever(retrievers, WEIGHTS, timeout_s=0.000_001).retrieve("volcano", "kb", 3)
    assert [(f.source, f.reason) for f in found.failed] == [("vector", "timed out after 1e-06 s")]
    assert found.hits == []


def test_rag_retrieve_prints_fused_hits_as_json(data_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["retrieve", "Which volcano is on Sicily?", "--kb", "kb", "--json"],
        env={"RAG_DATA_DIR": str(data_dir)},
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sources_failed"] == []
    assert "Etna" in report["hits"][0]["text"]
    assert set(report["hits"][0]["retrievers"]) <= {"vector", "keyword"}
    missing = CliRunner().invoke(app, ["retrieve", "x", "--kb", "nope"], env={"RAG_DATA_DIR": str(data_dir)})
    assert missing.exit_code == 2 and "nope" in missing.stderr
