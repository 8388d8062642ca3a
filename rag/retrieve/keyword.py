"""Keyword retrieval: full text in the relational store (SQLite FTS5 with BM25, PostgreSQL tsvector).

The question is segmented exactly like the index (jieba for CJK runs), cut into word terms,
stripped of stopwords and OR-ed: a question is not a boolean query, and AND over every word of
"what is the capital of France" would match nothing. Each term is quoted (SQLite) or turned into
a quoted lexeme (PostgreSQL), so quotes, `-`, `*`, `:`, parentheses or `NEAR` in a question are
data, never query syntax.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from rag.models import Hit
from rag.retrieve.base import Retriever
from rag.retrieve.keyword_postgres import ranked_rows
from rag.stores.errors import StoreUnavailable
from rag.stores.sql import SqlStore
from rag.stores.sql.fulltext import search_text
from rag.stores.sql.schema import chunks, documents

#: letters and digits only: what both tokenizers keep of a word (unicode61 also splits at "_"),
#: and nothing FTS5 or tsquery could read as an operator
_TERM = re.compile(r"[^\W_]+")
#: SQLite ranks this many times top_k matches (at least SQLITE_MIN_CANDIDATES) inside the full-text
#: index before joining rows: joining every match of a common word cost most of the query's time
SQLITE_OVERFETCH = 10
SQLITE_MIN_CANDIDATES = 200
#: a question longer than this many distinct terms is a paste, not a question; the rest is noise
MAX_TERMS = 32
#: words that carry no topic, so every chunk "matches" them; question words are among them
_ENGLISH_STOPWORDS = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own please same she should so some such tell than that the their theirs them themselves
    then there these they this those through to too under until up very was we were what when
    where which while who whom whose why will with would you your yours yourself yourselves
"""
#: Chinese function and question words, which jieba emits as terms of their own
_CHINESE_STOPWORDS = """
    的 了 是 在 和 与 及 或 有 吗 呢 吧 啊 谁 什么 哪 哪里 哪个 怎么 如何 为什么 多少
    我 你 他 她 它 们 这 那 个
"""
STOPWORDS = frozenset(_ENGLISH_STOPWORDS.split()) | frozenset(_CHINESE_STOPWORDS.split())
#: chunk columns a filter may name; any other key is looked up in the chunk's metadata,
#: mirroring the vector payload (kb, document_id, ordinal, then the chunk's metadata)
_COLUMNS = {"kb": chunks.c.kb, "document_id": chunks.c.document_id, "ordinal": chunks.c.ordinal}
_SELECTED = (
    chunks.c.id,
    chunks.c.document_id,
    chunks.c.kb,
    chunks.c.text,
    chunks.c.metadata,
    documents.c.source,
)


def query_terms(question: str) -> list[str]:
    """The question's distinct terms in order, lower-cased, as the index tokenized its text.

    Stopwords go, unless nothing else is left ("who is it?" still searches for something).
    """
    text = search_text(question) or question
    terms = list(dict.fromkeys(term.lower() for term in _TERM.findall(text)))
    kept = [term for term in terms if term not in STOPWORDS]
    return (kept or terms)[:MAX_TERMS]


class KeywordRetriever(Retriever):
    """Chunks ranked by BM25 (SQLite `bm25()`, negated so higher is better) or by IDF-weighted
    terms on PostgreSQL (`keyword_postgres`)."""

    name = "keyword"

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        terms = query_terms(question)
        if not terms or top_k <= 0:
            return []
        matching = [self._filter(k, v) for k, v in (filters or {}).items()]
        try:
            with self.sql.engine.connect() as conn:
                if self.sql.dialect == "postgresql":
                    rows = ranked_rows(conn, terms, kb, matching, _SELECTED, top_k)
                else:
                    rows = _sqlite_rows(conn, terms, [chunks.c.kb == kb, *matching], top_k)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise StoreUnavailable(f"{self.sql.description} failed: {reason}") from None
        return [
            Hit(
                chunk_id=row.id,
                document_id=row.document_id,
                kb=row.kb,
                text=row.text,
                source=row.source,
                score=float(row.score),
                retriever=self.name,
                rank=rank,
                metadata=row.metadata,
            )
            for rank, row in enumerate(rows, start=1)
        ]

    def _filter(self, key: str, value: Any) -> sa.ColumnElement[bool]:
        """Exact match like the vector store's payload filter; a list matches any of its values."""
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        for item in values:
            if not isinstance(item, str | int | float | bool):
                raise ValueError(f"filter on {key!r}: unsupported value {item!r} (use str, int, bool, float)")
        column = _COLUMNS.get(key)
        if column is not None:
            return column.in_(values)
        if self.sql.dialect == "postgresql":
            # containment compares JSON types exactly and needs no path syntax for the key
            document = sa.cast(chunks.c.metadata, JSONB)
            return sa.or_(*(document.contains({key: item}) for item in values))
        if '"' in key:
            raise ValueError(f"filter on {key!r}: a metadata key cannot contain '\"'")
        return sa.func.json_extract(chunks.c.metadata, f'$."{key}"').in_(values)


def _sqlite_rows(
    conn: sa.Connection, terms: list[str], conditions: list[sa.ColumnElement[bool]], top_k: int
) -> list[sa.Row[Any]]:
    """Rank inside the index first and join only the best candidates; when the KB or the filters
    leave fewer than `top_k` of them, rank every match instead."""
    candidates = max(top_k * SQLITE_OVERFETCH, SQLITE_MIN_CANDIDATES)
    rows = conn.execute(_sqlite_query(terms, candidates).where(*conditions).limit(top_k)).all()
    if len(rows) < top_k:
        rows = conn.execute(_sqlite_query(terms, None).where(*conditions).limit(top_k)).all()
    return list(rows)


def _sqlite_query(terms: list[str], candidates: int | None) -> sa.Select[Any]:
    """The best `candidates` matches by BM25 (all of them for None), joined to their rows."""
    # a quoted string is one term (or phrase) to FTS5, whatever words like NEAR or AND it holds
    match = " OR ".join(f'"{term}"' for term in terms)
    fts = sa.table("chunks_fts", sa.column("rowid"))
    bm25 = sa.func.bm25(sa.literal_column("chunks_fts"))  # lower is better
    ranked = (
        sa.select(fts.c.rowid.label("seq"), bm25.label("bm25"))
        .where(sa.literal_column("chunks_fts").op("MATCH")(match))
        .order_by(bm25)
    )
    if candidates is not None:
        ranked = ranked.limit(candidates)
    best = ranked.subquery("ranked")
    return (
        sa.select(*_SELECTED, (-best.c.bm25).label("score"))
        .select_from(best.join(chunks, chunks.c.seq == best.c.seq).join(documents))
        .order_by(best.c.bm25, chunks.c.seq)
    )
