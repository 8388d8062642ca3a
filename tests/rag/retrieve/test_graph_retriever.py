"""Graph retrieval over a real corpus ingested into the embedded default (SQLite + LadybugDB), built so
that the answers need two hops: no single document says where Alice Moreau's workplace is."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embed import Embedder
from rag.extract.heuristic import HeuristicExtractor
from rag.models import Fact, Hit, document_id
from rag.retrieve.graph import GraphRetriever
from rag.stores.factory import Stores
from tests.builders import ingest_folders, open_test_stores

MAIN = {
    "alice.txt": "Alice Moreau works at Vantor Labs.",
    "vantor.txt": "Vantor Labs is located in Lyon.",
    "brewing.txt": "The zymurgy club meets on Fridays to compare yeast strains.",
    "chenwei.txt": "陈伟在腾讯公司工作。",
    "tencent.txt": "腾讯公司总部位于深圳。",
}
#: the other KB knows an Alice Moreau too, working elsewhere
OTHER = {"alice.txt": "Alice Moreau works at Kestrel Bank."}


@dataclass
class Corpus:
    stores: Stores
    folder: Path
    graph: GraphRetriever


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("graph-retrieve")
    folders = {"main": root / "main", "other": root / "other"}
    for kb, files in (("main", MAIN), ("other", OTHER)):
        folders[kb].mkdir()
        for name, text in files.items():
            (folders[kb] / name).write_text(text, encoding="utf-8")
    # module-scoped, so it runs before the autouse fixture that hides the developer's RAG_* variables
    with pytest.MonkeyPatch.context() as env:
        for variable in [v for v in os.environ if v.startswith("RAG_") and not v.startswith("RAG_TEST_")]:
            env.delenv(variable)
        settings = Settings(data_dir=root / "data", vector_index_threshold=0)
    with open_test_stores(settings) as stores:
        ingest_folders(stores, embedder, folders, HeuristicExtractor())
        yield Corpus(stores, folders["main"], GraphRetriever(stores.graph, stores.sql))


def names(hits: list[Hit]) -> list[str]:
    return [Path(hit.source).name for hit in hits]


def chain(facts: list[Fact]) -> list[tuple[str, str, str, int]]:
    return [(f.source, f.relation, f.target, f.hops) for f in facts]


def assert_well_formed(hits: list[Hit], kb: str = "main") -> None:
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(hit.retriever == "graph" and hit.kb == kb and hit.text for hit in hits)


def test_a_two_hop_question_returns_both_chunks_and_the_fact_chain(corpus: Corpus) -> None:
    question = "In which city does Alice Moreau work?"
    hits, facts = corpus.graph.retrieve_with_facts(question, "main", 5)
    assert names(hits) == ["alice.txt", "vantor.txt"]
    assert hits[1].text == MAIN["vantor.txt"]
    assert hits[1].document_id == document_id("main", str(corpus.folder / "vantor.txt"))
    assert_well_formed(hits)
    assert chain(facts) == [
        ("Alice Moreau", "works_at", "Vantor Labs", 1),
        ("Vantor Labs", "located_in", "Lyon", 2),
    ]
    assert [f.chunk_id for f in facts] == [hit.chunk_id for hit in hits]
    assert corpus.graph.retrieve(question, "main", 5) == hits
    assert names(corpus.graph.retrieve(question, "main", 1)) == ["alice.txt"]


def test_a_misspelt_or_lower_case_name_still_links(corpus: Corpus, embedder: Embedder) -> None:
    links = corpus.graph.link("Where does Alice Moreaux work?", "main")
    assert [(link.mention, link.entity.name) for link in links] == [("Alice Moreaux", "Alice Moreau")]
    assert 0.85 <= links[0].score < 1.0
    with_embedder = GraphRetriever(corpus.stores.graph, corpus.stores.sql, embedder)
    for retriever in (corpus.graph, with_embedder):
        hits = retriever.retrieve("Where does Alice Moreaux work?", "main", 5)
        assert names(hits) == ["alice.txt", "vantor.txt"]
    lower = corpus.graph.retrieve_with_facts("where is vantor labs?", "main", 5)
    assert sorted(names(lower[0])) == ["alice.txt", "vantor.txt"]  # both mention it and state a fact: a tie
    assert ("Vantor Labs", "located_in", "Lyon", 1) in chain(lower[1])


def test_a_question_only_reaches_its_own_kb(corpus: Corpus) -> None:
    hits, facts = corpus.graph.retrieve_with_facts("Where does Alice Moreau work?", "other", 5)
    assert names(hits) == ["alice.txt"] and hits[0].kb == "other" and hits[0].text == OTHER["alice.txt"]
    assert chain(facts) == [("Alice Moreau", "works_at", "Kestrel Bank", 1)]
    main = corpus.graph.retrieve("Where does Kestrel Bank operate?", "main", 5)
    assert main == []


def test_a_question_naming_no_known_entity_returns_nothing_quickly(corpus: Corpus) -> None:
    corpus.graph.retrieve("warm up", "main", 5)
    for question in ("What is the weather like on Mars today?", "", "?!", "Who is Zorblax Quux?"):
        started = time.perf_counter()
        assert corpus.graph.retrieve_with_facts(question, "main", 5) == ([], [])
        assert time.perf_counter() - started < 0.5, question
    assert corpus.graph.retrieve("Alice Moreau", "main", 0) == []


def test_a_chinese_question_links_through_jieba_and_walks_two_hops(corpus: Corpus) -> None:
    hits, facts = corpus.graph.retrieve_with_facts("陈伟在哪个城市工作？", "main", 5)
    assert names(hits) == ["chenwei.txt", "tencent.txt"]
    assert chain(facts) == [("陈伟", "works_at", "腾讯公司", 1), ("腾讯公司", "located_in", "深圳", 2)]


def test_filters_keep_only_matching_chunks_and_their_facts(corpus: Corpus) -> None:
    vantor = document_id("main", str(corpus.folder / "vantor.txt"))
    question = "In which city does Alice Moreau work?"
    hits, facts = corpus.graph.retrieve_with_facts(question, "main", 5, {"document_id": vantor})
    assert names(hits) == ["vantor.txt"]
    assert chain(facts) == [("Vantor Labs", "located_in", "Lyon", 2)]
    assert corpus.graph.retrieve(question, "main", 5, {"document_id": "nowhere"}) == []
