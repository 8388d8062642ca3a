"""SQLite keyword ranking: BM25 when the terms are rare enough, and the level search over FTS5
against scoring every chunk of the KB by the same rule, computed here from the texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rag.retrieve import keyword_sqlite
from rag.retrieve.keyword import KeywordRetriever, query_terms
from rag.stores.sql import SqlStore
from rag.stores.sql.schema import chunks
from tests.rag.retrieve.zipf_corpus import store_texts, store_zipf_kbs, zipf_questions


@pytest.fixture
def level_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every question takes the level search, however few chunks its terms match."""
    monkeypatch.setattr(keyword_sqlite, "EXACT_POSTINGS", 0)


@pytest.fixture(scope="module")
def zipf_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    sql = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('zipf') / 'rag.sqlite3'}")
    store_zipf_kbs(sql)
    yield sql
    sql.close()


def _texts(sql: SqlStore, kb: str) -> list[set[str]]:
    with sql.engine.connect() as conn:
        return [set(text.split()) for text in conn.scalars(sa.select(chunks.c.text).where(chunks.c.kb == kb))]


def _expected_scores(sql: SqlStore, question: str, top_k: int) -> list[float]:
    """Every chunk of KB `z` scored by the summed IDF of the lead terms it holds, best first."""
    with sql.engine.connect() as conn:
        lead = keyword_sqlite.weighted_terms(conn, query_terms(question))[0][: keyword_sqlite.MAX_LEVEL_TERMS]
    scores = [sum(term.idf for term in lead if term.lexeme in words) for words in _texts(sql, "z")]
    return sorted((score for score in scores if score > 0), reverse=True)[:top_k]


def test_document_frequencies_are_counted_in_the_index(zipf_kb: SqlStore) -> None:
    everywhere = _texts(zipf_kb, "z") + _texts(zipf_kb, "other")
    with zipf_kb.engine.connect() as conn:
        terms, _ = keyword_sqlite.weighted_terms(conn, ["word0", "zymurgy", "notaword", "word40"])
    assert {term.lexeme: term.df for term in terms} == {
        word: sum(word in words for words in everywhere) for word in ("word0", "zymurgy", "word40")
    }
    assert [term.df for term in terms] == sorted(term.df for term in terms)  # rarest first


def test_few_postings_are_ranked_by_bm25_over_every_match(zipf_kb: SqlStore) -> None:
    question = "word0 word1 zymurgy"
    match = " OR ".join(f'"{term}"' for term in query_terms(question))
    query = sa.text(
        "SELECT -bm25(chunks_fts) FROM chunks_fts JOIN chunks ON chunks.seq = chunks_fts.rowid "
        "WHERE chunks_fts MATCH :match AND chunks.kb = 'z' ORDER BY bm25(chunks_fts) LIMIT 10"
    )
    with zipf_kb.engine.connect() as conn:
        expected = list(conn.scalars(query, {"match": match}))
        assert sum(term.df for term in keyword_sqlite.weighted_terms(conn, query_terms(question))[0]) <= (
            keyword_sqlite.EXACT_POSTINGS
        )
    hits = KeywordRetriever(zipf_kb).retrieve(question, "z", 10)
    assert [hit.score for hit in hits] == pytest.approx(expected)


@pytest.mark.usefixtures("level_search")
@pytest.mark.parametrize("candidates", [40, 500])
@pytest.mark.parametrize("top_k", [1, 5, 20])
def test_level_search_ranks_like_scoring_every_chunk(
    zipf_kb: SqlStore, top_k: int, candidates: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword_sqlite, "CANDIDATES", candidates)
    retriever = KeywordRetriever(zipf_kb)
    for question in zipf_questions():
        hits = retriever.retrieve(question, "z", top_k)
        expected = _expected_scores(zipf_kb, question, top_k)
        assert [round(hit.score, 9) for hit in hits] == [round(score, 9) for score in expected], question
        assert {hit.kb for hit in hits} <= {"z"}
        assert len({hit.chunk_id for hit in hits}) == len(hits)


@pytest.mark.usefixtures("level_search")
def test_ties_are_broken_by_bm25_over_the_level_terms(zipf_kb: SqlStore) -> None:
    """Among chunks holding the same terms, more occurrences in a chunk of equal length rank first."""
    hits = KeywordRetriever(zipf_kb).retrieve("word0", "z", 20)
    counts = [hit.text.split().count("word0") for hit in hits]
    assert len(set(hit.score for hit in hits)) == 1 and counts == sorted(counts, reverse=True)


@pytest.mark.usefixtures("level_search")
def test_level_search_scores_rare_terms_above_common_ones(zipf_kb: SqlStore) -> None:
    hits = KeywordRetriever(zipf_kb).retrieve("word0 word1 zymurgy", "z", 5)
    assert len(hits) == 5 and all("zymurgy" in hit.text.split() for hit in hits)


@pytest.mark.usefixtures("level_search")
def test_level_search_applies_filters_while_it_probes(zipf_kb: SqlStore) -> None:
    hits = KeywordRetriever(zipf_kb).retrieve("word0 word1 word2", "z", 10, {"part": 1})
    assert len(hits) == 10 and all(hit.metadata["part"] == 1 for hit in hits)


@pytest.mark.usefixtures("level_search")
def test_a_question_of_words_the_index_lacks_finds_nothing(zipf_kb: SqlStore) -> None:
    assert KeywordRetriever(zipf_kb).retrieve("notaword nothing", "z", 5) == []


@pytest.mark.usefixtures("level_search")
def test_a_kb_without_the_rarest_terms_still_finds_its_chunks_holding_the_others(tmp_path: Path) -> None:
    """Document frequencies are counted over the whole index: the question's six rarest terms may
    all live in another KB, and this KB's chunks holding only its seventh term must still come."""
    sql = SqlStore(f"sqlite:///{tmp_path / 'rag.sqlite3'}")
    rare = ["ruby", "sapphire", "topaz", "garnet", "opal", "jade"]
    store_texts(sql, "other", "gems.txt", [" ".join(rare)] * 3)
    store_texts(sql, "mine", "notes.txt", [f"granite note {n}" for n in range(30)])
    hits = KeywordRetriever(sql).retrieve(" ".join([*rare, "granite"]), "mine", 5)
    assert len(hits) == 5 and all(hit.kb == "mine" and "granite" in hit.text for hit in hits)
    sql.close()
