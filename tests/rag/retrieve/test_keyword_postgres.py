"""PostgreSQL keyword ranking: the term statistics its triggers keep, and the level search that
ranks only the chunks that can reach the top, against ranking every match, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from rag.models import document_id
from rag.retrieve import keyword_postgres
from rag.retrieve.keyword import KeywordRetriever, query_terms
from rag.retrieve.keyword_postgres import tsquery_text
from rag.stores.sql import SqlStore
from tests.postgres import create_database
from tests.rag.retrieve.zipf_corpus import store_texts, store_zipf_kbs, zipf_questions


def test_a_lexeme_is_quoted_so_it_is_never_tsquery_syntax(postgres_url: str) -> None:
    lexemes = ["it's", "back\\slash", "a & b", "x:*"]
    text = tsquery_text(lexemes, [(0, 1), (2,), (3,)])
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        parsed = conn.execute(sa.text("SELECT querytree(CAST(:q AS tsquery))"), {"q": text}).scalar_one()
    engine.dispose()
    assert parsed == "'it''s' & 'back\\\\slash' | 'a & b' | 'x:*'"


def _recounted(sql: SqlStore) -> dict[tuple[str, str], int]:
    """Document frequencies computed from scratch from the chunks, as the triggers should keep them."""
    query = sa.text(
        "SELECT kb, lexeme, count(*) FROM (SELECT kb, unnest(tsvector_to_array(tsv)) AS lexeme "
        "FROM chunks UNION ALL SELECT kb, '' FROM chunks) AS t GROUP BY kb, lexeme"
    )
    with sql.engine.connect() as conn:
        return {(kb, lexeme): df for kb, lexeme, df in conn.execute(query)}


def _kept(sql: SqlStore) -> dict[tuple[str, str], int]:
    with sql.engine.connect() as conn:
        return {(kb, lexeme): df for kb, lexeme, df in conn.execute(sa.text("SELECT * FROM chunk_terms"))}


def test_term_statistics_stay_exact_through_insert_replace_and_delete(postgres_url: str) -> None:
    sql = SqlStore(create_database(postgres_url, "terms"))
    try:
        store_texts(sql, "a", "one.txt", ["Acme founded the lab", "The lab grows", "Acme and Vantor"])
        store_texts(sql, "a", "two.txt", ["Vantor merges with Acme"])
        store_texts(sql, "b", "one.txt", ["Acme elsewhere"])
        assert _kept(sql) == _recounted(sql)
        assert _kept(sql)[("a", "acm")] == 3 and _kept(sql)[("a", "")] == 4
        store_texts(sql, "a", "one.txt", ["Only Vantor now"])  # a changed file replaces its chunks
        assert _kept(sql) == _recounted(sql)
        assert _kept(sql)[("a", "acm")] == 1
        sql.delete_documents([document_id("a", "two.txt")])
        assert _kept(sql) == _recounted(sql)
        assert ("a", "acm") not in _kept(sql)  # no stale rows for lexemes no chunk holds
        sql.delete_kb("b")
        assert _kept(sql) == _recounted(sql) and not any(kb == "b" for kb, _ in _kept(sql))
    finally:
        sql.close()


@pytest.fixture(scope="module")
def zipf_kb(postgres_url: str) -> Iterator[SqlStore]:
    """2,000 chunks of Zipf-distributed words in KB `z`, and a few look-alikes in KB `other`."""
    sql = SqlStore(create_database(postgres_url, "zipf"))
    store_zipf_kbs(sql)
    yield sql
    sql.close()


@pytest.mark.parametrize("walk_kb", [True, False], ids=["kb-btree", "full-text-index"])
@pytest.mark.parametrize("top_k", [1, 5, 20])
def test_level_search_ranks_like_scoring_every_match(
    zipf_kb: SqlStore, top_k: int, walk_kb: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways to the KB's chunks (its B-tree, or the full-text index alone) find the same."""
    monkeypatch.setattr(keyword_postgres, "KB_WALK_CHUNKS", 10**9 if walk_kb else 0)
    monkeypatch.setattr(keyword_postgres, "KB_WALK_SHARE", 0.0)
    retriever = KeywordRetriever(zipf_kb)
    searched = 0
    for question in zipf_questions():
        monkeypatch.setattr(keyword_postgres, "CANDIDATES", 10**9)  # rank every match
        expected = retriever.retrieve(question, "z", top_k)
        monkeypatch.setattr(keyword_postgres, "CANDIDATES", 40)  # the level search on most questions
        hits = retriever.retrieve(question, "z", top_k)
        assert [round(hit.score, 9) for hit in hits] == [round(hit.score, 9) for hit in expected], question
        assert {hit.kb for hit in hits} <= {"z"}
        with zipf_kb.engine.connect() as conn:
            terms = keyword_postgres.question_stats(conn, query_terms(question), "z").terms
        searched += sum(term.df for term in terms) > 40
    assert searched > 40  # most questions took the level search, not the direct ranking


def test_level_search_scores_rare_terms_above_common_ones(zipf_kb: SqlStore) -> None:
    hits = KeywordRetriever(zipf_kb).retrieve("word0 word1 zymurgy", "z", 5)
    assert len(hits) == 5 and all("zymurgy" in hit.text.split() for hit in hits)


def test_level_search_applies_filters_while_it_probes(zipf_kb: SqlStore) -> None:
    hits = KeywordRetriever(zipf_kb).retrieve("word0 word1 word2", "z", 10, {"part": 1})
    assert len(hits) == 10 and all(hit.metadata["part"] == 1 for hit in hits)
