"""Keyword retrieval: full text in the relational store (SQLite FTS5, PostgreSQL tsvector), ranked
by `keyword_sqlite` (BM25, or IDF-weighted levels on common words) or `keyword_postgres`.

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

from rag.common.filters import CHUNK_COLUMNS, Condition, parse
from rag.common.reasons import one_line
from rag.models import Hit
from rag.retrieve import keyword_postgres, keyword_sqlite
from rag.retrieve.base import Evidence, Retriever
from rag.stores.errors import StoreUnavailable
from rag.stores.sql import SqlStore
from rag.stores.sql.fulltext import search_text
from rag.stores.sql.schema import chunks, documents

#: letters and digits only: what both tokenizers keep of a word (unicode61 also splits at "_"),
#: and nothing FTS5 or tsquery could read as an operator
_TERM = re.compile(r"[^\W_]+")
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
#: the chunk columns a filter may name; any other key is looked up in the chunk's metadata
_COLUMNS = {name: chunks.c[name] for name in CHUNK_COLUMNS}
_SELECTED = (
    chunks.c.id,
    chunks.c.document_id,
    chunks.c.kb,
    chunks.c.text,
    chunks.c.metadata,
    documents.c.source,
)


def content_terms(text: str) -> list[str]:
    """A text's distinct terms in order, lower-cased, as the index tokenized it (Chinese segmented).

    Stopwords go, unless nothing else is left ("who is it?" still searches for something). No cap:
    this is for matching words (which sentence a source supports), not for searching."""
    tokens = search_text(text) or text
    terms = list(dict.fromkeys(term.lower() for term in _TERM.findall(tokens)))
    return [term for term in terms if term not in STOPWORDS] or terms


def query_terms(question: str) -> list[str]:
    """The question's terms to search for: its content terms, the first MAX_TERMS of them."""
    return content_terms(question)[:MAX_TERMS]


class KeywordRetriever(Retriever):
    """Chunks ranked by BM25-like scores, higher is better: see `keyword_sqlite` and
    `keyword_postgres` for how each backend ranks without scoring every match of a common word."""

    name = "keyword"

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        return self.gather(question, kb, top_k, filters).hits

    def gather(self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None) -> Evidence:
        """The hits, with the question's rarity (`keyword_levels.rarity`) as the confidence: a
        question of common words only gets a keyword list fusion barely counts."""
        terms = query_terms(question)
        if not terms or top_k <= 0:
            return Evidence([], confidence=0.0)
        matching = [self._filter(condition) for condition in parse(filters).conditions]
        try:
            with self.sql.read_connection() as conn:
                if self.sql.dialect == "postgresql":
                    rows, rare = keyword_postgres.ranked_rows(conn, terms, kb, matching, _SELECTED, top_k)
                else:
                    conditions = [chunks.c.kb == kb, *matching]
                    rows, rare = keyword_sqlite.ranked_rows(conn, terms, conditions, _SELECTED, top_k)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StoreUnavailable(f"{self.sql.description} failed: {one_line(exc, driver=True)}") from None
        hits = [
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
        return Evidence(hits, confidence=rare)

    def _filter(self, condition: Condition) -> sa.ColumnElement[bool]:
        """One filter condition (see `rag.common.filters`) in SQL, comparing JSON types as the
        grammar does; no value of a type the field can hold matches nothing."""
        column = _COLUMNS.get(condition.key)
        if column is not None:
            values = condition.numbers if column is chunks.c.ordinal else condition.texts
            return column.in_(values) if values else sa.false()
        if self.sql.dialect == "postgresql":
            # containment compares JSON types exactly and needs no path syntax for the key
            document = sa.cast(chunks.c.metadata, JSONB)
            values = [*condition.texts, *condition.numbers, *condition.flags]
            return sa.or_(sa.false(), *(document.contains({condition.key: item}) for item in values))
        path = f'$."{condition.key}"'
        # json_extract reads true as 1 and a JSON string like a number's text; json_type tells them apart
        value, kind = (
            sa.func.json_extract(chunks.c.metadata, path),
            sa.func.json_type(chunks.c.metadata, path),
        )
        parts = [sa.and_(kind == "text", value.in_(condition.texts))] if condition.texts else []
        if condition.numbers:
            parts.append(sa.and_(kind.in_(("integer", "real")), value.in_(condition.numbers)))
        parts += [kind == ("true" if flag else "false") for flag in condition.flags]
        return sa.or_(sa.false(), *parts)
