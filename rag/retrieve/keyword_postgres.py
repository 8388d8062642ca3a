"""PostgreSQL keyword ranking: terms weighted by IDF, and only the chunks that can reach the top.

A chunk scores the summed IDF of the question's lexemes it contains: BM25 with binary term
frequency (chunks are of similar length, so length normalisation changes little), with
`ts_rank_cd` (term frequency and proximity) breaking ties. `ts_rank_cd` alone ignores how common a
word is, and ranking every chunk that matched any term cost 0.5 s per question at 100k chunks:
"work" or "system" match half of a large KB.

The document frequencies come from `chunk_terms` (migration 0003, kept exact by triggers). When
the question's terms match few chunks in all, those are ranked directly. Otherwise the level
search of `keyword_levels` finds the chunks that can reach the top with boolean queries the GIN
index answers without ranking, probing with `LIMIT top_k`; the chunks above the first full level
and at most CANDIDATES at it are ranked. The result equals ranking every match, except which of
the chunks tied at the last level are considered when more than CANDIDATES tie there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY

from rag.retrieve.keyword_levels import (
    CANDIDATES,
    MAX_LEVEL_TERMS,
    Term,
    clauses,
    first_full_level,
    holds_at_least,
    idf,
    levels,
    rarity,
)
from rag.stores.sql.schema import chunks, documents

#: a KB of at most this many chunks, or this share of all chunks, is walked through its B-tree
KB_WALK_CHUNKS = 2000
KB_WALK_SHARE = 0.05
_TSV = sa.literal_column("chunks.tsv")  # generated column, created by the migration only


def _literal(lexeme: str) -> str:
    """A lexeme quoted for tsquery input: quotes and backslashes escaped, never operators."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery_text(lexemes: Sequence[str], groups: Sequence[Sequence[int]]) -> str:
    """An OR of ANDs over quoted lexemes, e.g. `('acme' & 'found') | 'vantor'`."""
    return " | ".join("(" + " & ".join(_literal(lexemes[i]) for i in group) + ")" for group in groups)


def _tsquery(text: str) -> sa.ColumnElement[Any]:
    return sa.cast(sa.literal(text), TSQUERY)


@dataclass(frozen=True)
class QuestionStats:
    """The question's lexemes that occur in the KB (rarest first), and how big the KB is."""

    terms: list[Term]
    kb_chunks: int
    #: the planner's count of chunks in every KB (pg_class.reltuples; -1 before the first ANALYZE)
    all_chunks: int


def question_stats(conn: sa.Connection, terms: list[str], kb: str) -> QuestionStats:
    """One round trip: each lexeme's document frequency, the KB's and the table's chunk counts."""
    rows = conn.execute(
        sa.text(
            "SELECT l.lexeme, coalesce(t.df, 0) AS df, "
            "coalesce((SELECT df FROM chunk_terms WHERE kb = :kb AND lexeme = ''), 0) AS kb_chunks, "
            "(SELECT reltuples::bigint FROM pg_class WHERE oid = 'chunks'::regclass) AS all_chunks "
            "FROM unnest(tsvector_to_array(to_tsvector('english', :text))) AS l(lexeme) "
            "LEFT JOIN chunk_terms AS t ON t.kb = :kb AND t.lexeme = l.lexeme"
        ),
        {"kb": kb, "text": " ".join(terms)},
    ).all()
    if not rows:
        return QuestionStats([], 0, 0)
    total = rows[0].kb_chunks
    found = [Term(row.lexeme, row.df, idf(row.df, total)) for row in rows if row.df > 0]
    return QuestionStats(sorted(found, key=lambda t: (t.df, t.lexeme)), total, rows[0].all_chunks)


def _kb_condition(kb: str, stats: QuestionStats) -> sa.ColumnElement[bool]:
    """`kb = :kb`, written so the planner must use the full-text index unless the KB is small.

    The planner overprices GIN scans of common lexemes and, with a LIMIT, prefers walking the KB's
    B-tree and matching every chunk (22 ms instead of 2 ms at 10k chunks). Walking the KB is right
    only when it is a small part of the table: then it costs little, and the full-text index would
    mostly return other KBs' chunks. Otherwise the B-tree is hidden behind `kb || ''`.
    """
    if stats.kb_chunks <= max(KB_WALK_CHUNKS, KB_WALK_SHARE * stats.all_chunks):
        return chunks.c.kb == kb
    return chunks.c.kb.concat("") == kb


def ranked_rows(
    conn: sa.Connection,
    terms: list[str],
    kb: str,
    filters: list[sa.ColumnElement[bool]],
    selected: Sequence[sa.ColumnElement[Any]],
    top_k: int,
) -> tuple[list[sa.Row[Any]], float]:
    """The `top_k` best chunks of the KB that pass `filters` for these question terms, and the
    question's `rarity` in the KB."""
    # Every query here has an index to use; the planner prices `@@` like `=` and, expecting few
    # matches, would otherwise scan the table or walk an index in order, matching every tsvector.
    # For this transaction only.
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
    stats = question_stats(conn, terms, kb)
    weighted = stats.terms
    if not weighted:
        return [], 0.0
    conditions = [_kb_condition(kb, stats), *filters]
    lexemes = [term.lexeme for term in weighted]
    everything = tsquery_text(lexemes, [(i,) for i in range(len(lexemes))])

    def matching(query: str) -> sa.Select[Any]:
        return sa.select(chunks.c.seq).where(*conditions, _TSV.op("@@")(_tsquery(query)))

    if sum(term.df for term in weighted) <= CANDIDATES:
        candidates = matching(everything)
    else:
        lead = [term.idf for term in weighted[:MAX_LEVEL_TERMS]]
        thresholds = levels(lead)

        def reaching(threshold: float) -> str:
            return tsquery_text(lexemes, clauses(lead, threshold))

        def holds_top_k(threshold: float) -> bool:
            return holds_at_least(conn, matching(reaching(threshold)), top_k)

        at = first_full_level(thresholds, holds_top_k)
        candidates = matching(reaching(thresholds[at])).limit(CANDIDATES)
        if at > 0:  # every chunk above the level: fewer than top_k
            above = matching(reaching(thresholds[at - 1]))
            candidates = sa.union(above, candidates)
    seqs = candidates.subquery("candidates")
    score = sum(
        (sa.cast(_TSV.op("@@")(_tsquery(_literal(term.lexeme))), sa.Integer) * term.idf for term in weighted),
        start=sa.literal(0.0),
    )
    tie_break = sa.func.ts_rank_cd(_TSV, _tsquery(everything))
    query = (
        sa.select(*selected, score.label("score"))
        .select_from(seqs.join(chunks, chunks.c.seq == seqs.c.seq).join(documents))
        .order_by(score.desc(), tie_break.desc(), chunks.c.seq)
        .limit(top_k)
    )
    return list(conn.execute(query).all()), rarity(weighted, stats.kb_chunks)
