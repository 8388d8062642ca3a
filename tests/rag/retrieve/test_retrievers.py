"""Vector and keyword retrieval over a small real corpus, ingested into the real stores:
the embedded default (SQLite FTS5 + Qdrant's embedded engine) and PostgreSQL full text."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.config import Settings
from rag.embed import Embedder
from rag.models import Hit, VectorPoint, document_id
from rag.retrieve.keyword import KeywordRetriever, query_terms
from rag.retrieve.vector import VectorRetriever
from rag.stores.errors import StoreUnavailable
from rag.stores.factory import Stores
from rag.stores.sql import SqlStore
from tests.builders import ingest_folders, open_test_stores
from tests.corpus import CHINESE_GBK
from tests.postgres import create_database

#: one topic per file, worded so that a paraphrase shares no keyword with its paragraph
TOPICS = {
    "volcano.txt": "Mount Etna on Sicily is among the most active volcanoes in Europe. Its eruptions "
    "send lava flows and ash down the slopes, and the craters smoke for months.",
    "paris.txt": "Paris is the capital of France. The city sits on the Seine and is home to the Louvre "
    "and the Eiffel Tower.",
    "brewing.txt": "The zymurgy club meets on Fridays to compare yeast strains, mash temperatures and "
    "the fermentation of ales in the old cellar.",
    "orbits.txt": "Kepler showed that planets move on ellipses around the Sun, sweeping equal areas "
    "in equal times along their orbits.",
    "garden.md": "# Garden\n\n## Bees\n\nHoneybees dance in the garden to tell the hive where the "
    "flowers are.\n\n## Roses\n\nRoses in the garden need pruning in late winter and full sun.\n",
}
#: the other knowledge base shares a rare word with the main one, and has one of its own
OTHER = "Zymurgy notes of another team. A quokka was seen near the lava field."
QUESTIONS_WITH_SYNTAX = [
    '"zymurgy',
    "zymurgy -yeast",
    "search_text:zymurgy",
    "NEAR(zymurgy yeast)",
    "zymurgy* OR AND NOT",
    "(zymurgy) ^ {yeast} + [cellar]",
    "zymurgy'; DROP TABLE chunks; --",
    "zymurgy & | ! <-> :* ''",
]


@dataclass
class Corpus:
    stores: Stores
    folder: Path
    vector: VectorRetriever
    keyword: KeywordRetriever

    def doc(self, name: str) -> str:
        return document_id("main", str(self.folder / name))


def _settings(request: pytest.FixtureRequest, data_dir: Path) -> Settings:
    """The embedded default, or the same with a fresh PostgreSQL database as the relational store."""
    sql_url = ""
    if request.param == "postgres":
        sql_url = create_database(request.getfixturevalue("postgres_url"), "retrieve")
    # module-scoped, so it runs before the autouse fixture that hides the developer's RAG_* variables
    with pytest.MonkeyPatch.context() as env:
        for variable in [v for v in os.environ if v.startswith("RAG_") and not v.startswith("RAG_TEST_")]:
            env.delenv(variable)
        env.chdir(data_dir.parent)
        return Settings(data_dir=data_dir, sql_url=sql_url, vector_index_threshold=0)


@pytest.fixture(scope="module", params=["embedded", "postgres"])
def corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Corpus]:
    """The corpus ingested once per backend into KB `main`, and a look-alike into KB `other`."""
    root = tmp_path_factory.mktemp(f"retrieve-{request.param}")
    folder, other = root / "main", root / "other"
    folder.mkdir()
    other.mkdir()
    for name, text in TOPICS.items():
        (folder / name).write_text(text)
    (folder / "shenzhen.txt").write_bytes(CHINESE_GBK.encode("gbk"))
    (other / "notes.txt").write_text(OTHER)
    settings = _settings(request, root / "data")
    with open_test_stores(settings) as stores:
        ingest_folders(stores, embedder, {"main": folder, "other": other})
        yield Corpus(
            stores,
            folder,
            VectorRetriever(stores.vector, stores.sql, embedder, stores.collection),
            KeywordRetriever(stores.sql),
        )


def names(hits: list[Hit]) -> list[str]:
    return [Path(hit.source).name for hit in hits]


def assert_well_formed(hits: list[Hit], retriever: str, kb: str = "main") -> None:
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(hit.retriever == retriever and hit.kb == kb and hit.text for hit in hits)


def test_vector_retriever_ranks_the_paraphrased_chunk_first(corpus: Corpus) -> None:
    hits = corpus.vector.retrieve("Which mountain in Italy spews molten rock?", "main", 3)
    assert names(hits)[0] == "volcano.txt"
    assert hits[0].text.startswith("Mount Etna") and hits[0].document_id == corpus.doc("volcano.txt")
    assert_well_formed(hits, "vector")
    assert len(hits) == 3


def test_keyword_retriever_ranks_the_chunk_with_the_rare_term_first(corpus: Corpus) -> None:
    hits = corpus.keyword.retrieve("Who studies zymurgy in the cellar?", "main", 5)
    assert names(hits)[0] == "brewing.txt"
    assert_well_formed(hits, "keyword")
    assert hits[0].score > 0


def test_keyword_retriever_ignores_stopwords_of_the_question(corpus: Corpus) -> None:
    assert query_terms("What is the capital of France?") == ["capital", "france"]
    hits = corpus.keyword.retrieve("What is the capital of France?", "main", 5)
    assert names(hits) == ["paris.txt"]


def test_keyword_matching_uses_the_stemmed_forms(corpus: Corpus) -> None:
    hits = corpus.keyword.retrieve("erupting volcano", "main", 5)
    assert names(hits) == ["volcano.txt"]


def test_a_chinese_question_finds_the_chinese_chunk_by_keyword(corpus: Corpus) -> None:
    terms = query_terms("科技园的负责人是谁？")
    assert {"科技园", "负责人"} <= set(terms) and "的" not in terms
    hits = corpus.keyword.retrieve("科技园的负责人是谁？", "main", 5)
    assert names(hits) == ["shenzhen.txt"]
    assert "陈伟" in hits[0].text


def test_a_question_never_returns_another_kbs_chunks(corpus: Corpus) -> None:
    for retriever in (corpus.vector, corpus.keyword):
        main = retriever.retrieve("zymurgy notes about lava", "main", 20)
        assert main and all(hit.kb == "main" for hit in main)
        assert all(Path(hit.source).parent == corpus.folder for hit in main)
        other = retriever.retrieve("zymurgy notes about lava", "other", 20)
        assert names(other) == ["notes.txt"] and other[0].kb == "other"
    assert corpus.keyword.retrieve("quokka", "main", 5) == []
    assert corpus.vector.retrieve("quokka", "nowhere", 5) == []


@pytest.mark.parametrize("question", QUESTIONS_WITH_SYNTAX)
def test_full_text_syntax_in_a_question_is_plain_data(corpus: Corpus, question: str) -> None:
    hits = corpus.keyword.retrieve(question, "main", 3)
    assert names(hits)[0] == "brewing.txt"


@pytest.mark.parametrize("question", ["", "   ", "?!", '"" () * -', "the of and"])
def test_questions_without_usable_terms_do_not_raise(corpus: Corpus, question: str) -> None:
    hits = corpus.keyword.retrieve(question, "main", 3)
    assert_well_formed(hits, "keyword")


def test_filters_restrict_both_retrievers_to_matching_chunks(corpus: Corpus) -> None:
    question = "flowers in the garden"
    for retriever in (corpus.vector, corpus.keyword):
        roses = retriever.retrieve(question, "main", 10, {"heading": "Garden > Roses"})
        assert [hit.metadata["heading"] for hit in roses] == ["Garden > Roses"]
        both = retriever.retrieve(question, "main", 10, {"heading": ["Garden > Roses", "Garden > Bees"]})
        assert {hit.metadata["heading"] for hit in both} == {"Garden > Roses", "Garden > Bees"}
        orbits = corpus.doc("orbits.txt")
        one = retriever.retrieve("garden planets of Kepler", "main", 10, {"document_id": orbits})
        assert names(one) == ["orbits.txt"]
        assert retriever.retrieve(question, "main", 10, {"heading": "Nowhere"}) == []
        assert retriever.retrieve(question, "main", 10, {"ordinal": 1, "heading": "Garden > Roses"})
        with pytest.raises(ValueError, match="heading"):
            retriever.retrieve(question, "main", 10, {"heading": {"nested": 1}})


def test_vectors_the_ledger_does_not_know_are_not_cited(corpus: Corpus, embedder: Embedder) -> None:
    question = "a ghost chunk"
    ghost = VectorPoint(
        id=str(uuid.uuid4()),
        vector=embedder.embed_queries([question])[0].tolist(),
        payload={"kb": "ghost", "document_id": str(uuid.uuid4()), "ordinal": 0},
    )
    corpus.stores.vector.upsert([ghost])
    assert corpus.vector.retrieve(question, "ghost", 5) == []
    assert corpus.stores.sql.chunks_by_ids([ghost.id]) == {}


def test_chunks_by_ids_reads_text_and_source_in_one_call(corpus: Corpus) -> None:
    hits = corpus.keyword.retrieve("garden", "main", 10)
    found = corpus.stores.sql.chunks_by_ids([hit.chunk_id for hit in hits] * 2)
    assert set(found) == {hit.chunk_id for hit in hits}
    for hit in hits:
        chunk, source = found[hit.chunk_id]
        assert (chunk.text, chunk.document_id, source) == (hit.text, hit.document_id, hit.source)


def test_an_unreachable_relational_store_fails_as_unavailable_naming_it(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'rag.sqlite3'}")
    store.close()
    store.engine = sa.create_engine(f"sqlite:///{tmp_path / 'gone' / 'rag.sqlite3'}")
    with pytest.raises(StoreUnavailable, match="relational store"):
        KeywordRetriever(store).retrieve("zymurgy", "main", 5)


@pytest.mark.parametrize("level_search", [False, True], ids=["bm25", "level-search"])
def test_a_small_kb_finds_its_chunk_when_another_kb_floods_the_best_matches(
    tmp_path: Path, level_search: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both SQLite paths rank a bounded number of matches; they must be the KB's, not the first
    matches of the whole index, which here all belong to another KB."""
    from rag.models import Chunk, Document, chunk_id, document_id
    from rag.retrieve import keyword_sqlite
    from rag.retrieve.keyword import KeywordRetriever
    from rag.retrieve.keyword_levels import CANDIDATES

    if level_search:
        monkeypatch.setattr(keyword_sqlite, "EXACT_POSTINGS", 0)
    from rag.stores.sql import SqlStore

    sql = SqlStore(f"sqlite:///{tmp_path / 'flood.sqlite3'}")
    for kb, count, text in (
        ("big", CANDIDATES * 2, "glacier glacier glacier"),
        ("small", 1, "a long note that mentions the glacier only once among many other words"),
    ):
        sql.create_kb(kb)
        doc = Document(document_id(kb, f"{kb}.txt"), kb, f"{kb}.txt", "hash", "text/plain")
        chunks = [Chunk(chunk_id(doc.id, i), doc.id, kb, i, text, 5) for i in range(count)]
        sql.store_document(doc, iter(chunks), [])
    hits = KeywordRetriever(sql).retrieve("glacier", "small", 5)
    assert [hit.kb for hit in hits] == ["small"]
    assert len(KeywordRetriever(sql).retrieve("glacier", "big", 5)) == 5
    sql.close()
