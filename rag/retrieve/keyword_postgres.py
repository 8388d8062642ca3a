"""PostgreSQL keyword ranking: terms weighted by IDF, and only the chunks that can reach the top.

A chunk scores the summed IDF of the question's lexemes it contains: BM25 with binary term
frequency (chunks are of similar length, so length normalisation changes little), with
`ts_rank_cd` (term frequency and proximity) breaking ties. `ts_rank_cd` alone ignores how common a
word is, and ranking every chunk that matched any term cost 0.5 s per question at 100k chunks:
"work" or "system" match half of a large KB.

The document frequencies come from `chunk_terms` (migration 0003, kept exact by triggers). When
the question's terms match few chunks in all, those are ranked directly. Otherwise the possible
scores form levels (the distinct sums of term weights), and "scores at least t" is a boolean query
the GIN index answers without ranking anything: an OR of the smallest term sets whose weights reach
t. A binary search over the levels finds the highest one that holds `top_k` chunks, probing with
`LIMIT top_k`; the chunks above it (fewer than `top_k`, all of them) and at most CANDIDATES at it
(they tie on score) are then ranked. The result equals ranking every match, except which of the
chunks tied at the last level are considered when more than CANDIDATES tie there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY

from rag.stores.sql.schema import chunks, documents

#: the most chunks ranked at the last level, and the most matches ranked without levels
CANDIDATES = 500
#: levels are built from this many of the rarest terms (2^n subsets); the rest still score
MAX_LEVEL_TERMS = 6
#: a KB of at most this many chunks, or this share of all chunks, is walked through its B-tree
KB_WALK_CHUNKS = 2000
KB_WALK_SHARE = 0.05
#: subset sums closer than this are one level (floating-point noise, not a different score)
_SAME_LEVEL = 1e-9
_TSV = sa.literal_column("chunks.tsv")  # generated column, created by the migration only


@dataclass(frozen=True)
class Term:
    """One lexeme of the question as the index holds it, with its weight in this KB."""

    lexeme: str
    df: int
    idf: float


def idf(df: int, total: int) -> float:
    """BM25's inverse document frequency: always positive, high for rare lexemes."""
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


def levels(weights: Sequence[float]) -> list[float]:
    """Every score a chunk can reach with these term weights (non-empty subset sums), highest first."""
    sums = sorted({sum(subset) for n in range(1, len(weights) + 1) for subset in combinations(weights, n)})
    distinct: list[float] = []
    for value in reversed(sums):
        if not distinct or distinct[-1] - value > _SAME_LEVEL:
            distinct.append(value)
    return distinct


def clauses(weights: Sequence[float], threshold: float) -> list[tuple[int, ...]]:
    """The smallest sets of term positions whose weights reach `threshold`: a chunk scores at least
    `threshold` exactly when it contains every term of one of them."""
    found: list[tuple[int, ...]] = []
    for n in range(1, len(weights) + 1):
        for subset in combinations(range(len(weights)), n):
            if sum(weights[i] for i in subset) < threshold - _SAME_LEVEL:
                continue
            if not any(set(smaller) <= set(subset) for smaller in found):
                found.append(subset)
    return found


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
) -> list[sa.Row[Any]]:
    """The `top_k` best chunks of the KB that pass `filters` for these question terms."""
    # Every query here has an index to use; the planner prices `@@` like `=` and, expecting few
    # matches, would otherwise scan the table or walk an index in order, matching every tsvector.
    # For this transaction only.
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    conn.execute(sa.text("SET LOCAL enable_indexscan = off"))
    stats = question_stats(conn, terms, kb)
    weighted = stats.terms
    if not weighted:
        return []
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

        at = _first_full_level(conn, thresholds, reaching, matching, top_k)
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
    return list(conn.execute(query).all())


def _first_full_level(
    conn: sa.Connection,
    thresholds: list[float],
    query_at: Callable[[float], str],
    matching: Callable[[str], sa.Select[Any]],
    top_k: int,
) -> int:
    """The highest level (lowest index) holding at least `top_k` chunks; the last when none does."""

    def full(index: int) -> bool:
        probe = matching(query_at(thresholds[index])).limit(top_k).subquery()
        return conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() >= top_k

    low, high = 0, len(thresholds) - 1
    while low < high:
        middle = (low + high) // 2
        if full(middle):
            high = middle
        else:
            low = middle + 1
    return low
