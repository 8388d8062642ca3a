"""Fusion weights a KB learns from its own chunks, and the query-time gates: on real stores, a
retriever that returns noise is switched off, and one with nothing to say contributes nothing."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.answer.pipeline import open_pipeline
from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.generate.local import LocalChatModel
from rag.models import Abstention, Hit
from rag.retrieve.base import Retriever, chunk_hit, ledger_chunks
from rag.retrieve.calibrate import (
    MIN_CHUNKS,
    LearnedWeightsCache,
    calibrate,
    learn_weights,
    pseudo_queries,
    pseudo_query,
)
from rag.retrieve.fused import FusedRetriever
from rag.retrieve.graph import GraphRetriever
from rag.retrieve.keyword import KeywordRetriever
from rag.retrieve.vector import VectorRetriever
from rag.stores.factory import Stores
from tests.builders import ingest_pipeline, open_test_stores

ANIMALS = ["otter", "heron", "lynx", "badger", "falcon", "walrus", "gecko", "bison", "marmot", "ibis"]
PLACES = ["Lisbon", "Oslo", "Quito", "Hanoi"]
FOODS = ["clams", "beetles", "lichen", "acorns", "sardines", "kelp", "crickets", "grass", "roots", "figs"]
COLOURS = ["grey", "spotted", "striped", "golden", "black"]
PLANTS = ["reeds", "ferns", "heather", "bamboo", "thistles", "moss", "brambles", "willows"]


def corpus() -> dict[str, str]:
    """Forty short documents, each about one animal in one city (no pair twice), with its own food,
    colour and cover, and the same two sentence frames."""
    docs = {}
    for n in range(40):
        animal, place = ANIMALS[n % 10], PLACES[n // 10]
        food, colour, plant = FOODS[(n * 3) % 10], COLOURS[n % 5], PLANTS[(n * 3) % 8]
        docs[f"doc{n:02d}.txt"] = (
            f"Field note {n}. The {animal} colony near {place} feeds on {food} at dawn. "
            f"Its {colour} young hide among the {plant} while rangers from {place} watch the {animal}s."
        )
    return docs


class NoiseRetriever(Retriever):
    """A retriever that ignores the question: random chunks of the KB, seeded per question."""

    name = "noise"

    def __init__(self, stores: Stores, kb: str) -> None:
        self.sql = stores.sql
        self.chunk_ids = [chunk_id for chunk_id, _, _ in stores.sql.sample_chunks(kb, 1000)]

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        picked = random.Random(question).sample(self.chunk_ids, min(top_k, len(self.chunk_ids)))
        kept = ledger_chunks(self.sql, picked, kb, self.name)
        return [
            chunk_hit(chunk, source, 1.0 / rank, self.name, rank)
            for rank, (chunk, source) in enumerate(kept.values(), start=1)
        ]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Stores]:
    root = tmp_path_factory.mktemp("calibrate")
    folder = root / "docs"
    folder.mkdir()
    for name, text in corpus().items():
        (folder / name).write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        for variable in [v for v in os.environ if v.startswith("RAG_")]:
            env.delenv(variable)
        settings = Settings(data_dir=root / "data")
    with open_test_stores(settings) as opened:
        summary = ingest_pipeline(opened, embedder, HeuristicExtractor()).run([folder], "kb")
        assert summary.failed == 0
        yield opened


@pytest.mark.fast
def test_a_pseudo_query_is_half_of_a_sentence_s_content_words_the_same_every_time() -> None:
    text = "Intro. The otter colony near Lisbon feeds on clams at dawn every single day."
    query = pseudo_query("chunk-1", text)
    assert query == pseudo_query("chunk-1", text)
    words = query.split()
    assert 3 <= len(words) <= 6
    assert all(word in text for word in words)
    assert not {"the", "on", "at"} & {word.lower() for word in words}
    assert pseudo_query("chunk-1", "Too short. Also.") is None


@pytest.mark.fast
def test_a_list_that_never_finds_the_answer_is_switched_off_and_a_good_one_kept() -> None:
    def hit(chunk: str, retriever: str, rank: int) -> Hit:
        return Hit(chunk, "d", "kb", "text", "s", 1.0 / rank, retriever, rank)

    answers = [f"c{n}" for n in range(20)]
    lists = [
        {
            "good": [hit(answer, "good", 1), hit("x", "good", 2)],
            "fair": [hit("y", "fair", 1), hit(answer, "fair", 2)],
            "noise": [hit("z", "noise", 1)],
            "sql": [hit("w", "sql", 1)],
        }
        for answer in answers
    ]
    weights, quality = learn_weights(lists, answers)
    assert weights == {"fair": 1.0, "good": 1.0, "noise": 0.0}  # sql is never learned
    assert quality == {"fair": 0.5, "good": 1.0, "noise": 0.0}
    assert learn_weights([], []) == ({}, {})


def test_a_retriever_returning_noise_gets_no_weight_on_a_kb_built_for_it(
    stores: Stores, embedder: Embedder
) -> None:
    assert len(pseudo_queries(stores.sql, "kb")) >= MIN_CHUNKS
    retrievers: list[Retriever] = [
        VectorRetriever(stores.vector, stores.sql, embedder, stores.collection),
        KeywordRetriever(stores.sql),
        NoiseRetriever(stores, "kb"),
    ]
    fused = FusedRetriever(retrievers, {}, timeout_s=30)
    weights = calibrate(fused, stores.sql, "kb")
    assert weights["noise"] <= 0.05
    assert weights["vector"] == weights["keyword"] == 1.0
    stored = stores.sql.learned_weights("kb")
    assert stored is not None and stored.weights == weights and stored.queries >= MIN_CHUNKS
    assert stored.report["keyword"] > stored.report["noise"]

    learned = FusedRetriever(retrievers, {}, timeout_s=30, learned=LearnedWeightsCache(stores.sql))
    found = learned.retrieve("Which colony feeds on kelp near Oslo?", "kb", 5)
    assert found.weights["noise"] <= 0.05
    assert all("noise" not in item.ranks or len(item.ranks) > 1 for item in found.hits[:3])


def test_an_ingest_that_changes_the_kb_learns_its_weights_and_one_that_does_not_keeps_them(
    stores: Stores, embedder: Embedder, tmp_path: Path
) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    for name, text in corpus().items():
        (folder / name).write_text(text.replace("Field note", "Second note"), encoding="utf-8")
    pipeline = ingest_pipeline(stores, embedder, HeuristicExtractor())
    first = pipeline.run([folder], "kb-two")
    assert set(first.fusion_weights) == {"vector", "keyword", "graph"}
    assert "fusion" in first.timings
    again = pipeline.run([folder], "kb-two")
    assert again.fusion_weights == {} and "fusion" not in again.timings
    assert stores.sql.learned_weights("kb-two") is not None


def test_a_question_naming_no_entity_gets_nothing_from_the_graph(stores: Stores, embedder: Embedder) -> None:
    graph = GraphRetriever(stores.graph, stores.sql, embedder, stores.vector)
    named = graph.gather("Where does the otter colony near Lisbon feed?", "kb", 5)
    assert named.hits and named.confidence == 1.0
    unnamed = graph.gather("which colony feeds at dawn while rangers watch", "kb", 5)
    assert unnamed.hits == [] and unnamed.confidence == 0.0
    fused = FusedRetriever([graph, KeywordRetriever(stores.sql)], {}, timeout_s=30)
    found = fused.retrieve("which colony feeds at dawn while rangers watch", "kb", 5)
    assert found.weights["graph"] == 0.0
    assert all(set(item.ranks) == {"keyword"} for item in found.hits)


def test_a_question_of_common_words_only_weighs_little_in_keyword_fusion(stores: Stores) -> None:
    keyword = KeywordRetriever(stores.sql)
    rare = keyword.gather("walrus kelp Perth", "kb", 5)
    assert rare.hits and rare.confidence == 1.0
    common = keyword.gather("note colony feeds dawn young hide rangers watch", "kb", 5)
    assert common.hits and common.confidence < 0.2
    assert keyword.gather("zzzunknownword", "kb", 5).confidence == 0.0


def test_the_kb_s_answer_absent_levels_let_an_off_topic_question_go_without_a_model_call(
    stores: Stores, smollm2: LocalChatModel
) -> None:
    levels = LearnedWeightsCache(stores.sql).absent_levels("kb")
    assert len(levels) >= MIN_CHUNKS and levels == sorted(levels)
    pipeline = open_pipeline(stores, stores.settings, ["vector", "keyword", "graph"], chat=smollm2)
    answer = pipeline.ask("What is the boiling point of tungsten in kelvin?", "kb")
    assert answer.abstained is Abstention.NO_EVIDENCE and answer.citations == []
    assert "first_token" not in answer.timings_ms  # the model was never asked
    on_topic = pipeline.retrieve("Which colony feeds on kelp near Oslo?", "kb")
    assert not pipeline.no_evidence(on_topic, "kb")
