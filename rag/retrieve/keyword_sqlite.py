"""SQLite keyword ranking: FTS5's BM25 when the question's terms are rare enough, else the level
search of `keyword_levels`.

`bm25()` costs time per match: it looks up each match's length and walks its positions, and every
match is then sorted. When the question's terms occur in at most EXACT_POSTINGS chunks in all,
that is a few milliseconds and every match is ranked by BM25. A common word breaks this: at 100k
chunks "work" or "system" match half of them, and ranking took ~50 ms per question. Then FTS5
only answers boolean queries (ANDs and ORs of quoted terms), which it streams in rowid order and
stops at a LIMIT in well under a millisecond, and `bm25()` runs on at most CANDIDATES chunks.

In the level search a chunk scores the summed IDF of the rarest MAX_LEVEL_TERMS question terms it
holds, with document frequencies counted in the index (over every KB, as `bm25()` counts them);
among chunks of one score, `bm25()` over the level's terms and every other term of the question
breaks ties. This is the PostgreSQL backend's ranking (`keyword_postgres`), except that terms
beyond the rarest MAX_LEVEL_TERMS only break ties here, document frequencies are counted over the
whole index rather than per KB, and two words the Porter stemmer makes one ("connect",
"connection") count twice. It equals ranking every match by that score, except which chunks tied
at the last level are considered when more than CANDIDATES tie there; when fewer than top_k of
the KB's chunks hold a lead term and the question has more terms, every match is ranked by BM25.
On HotpotQA it is a few points of nDCG below BM25 (docs/retrieval.md), hence BM25 whenever it is
cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from rag.retrieve.keyword_levels import (
    CANDIDATES,
    MAX_LEVEL_TERMS,
    Term,
    clauses,
    exact_sets,
    first_full_level,
    holds_at_least,
    idf,
    levels,
    rarity,
)
from rag.stores.sql.schema import chunks, documents

#: up to this many chunks holding a question term (counted once per term), BM25 ranks them all
EXACT_POSTINGS = 20_000
#: BM25 ranks this many times top_k matches (at least BM25_MIN_CANDIDATES) inside the index before
#: joining rows, as joining every match cost more than ranking; too few in the KB: all are joined
BM25_OVERFETCH = 10
BM25_MIN_CANDIDATES = 200
_FTS = sa.table("chunks_fts", sa.column("rowid"))
_FTS_TABLE = sa.literal_column("chunks_fts")


def _quoted(term: str) -> str:
    """One FTS5 term: a quoted string is a term to FTS5 whatever words (NEAR, AND) it holds."""
    return '"' + term.replace('"', '""') + '"'


def match_expression(phrases: Sequence[str], groups: Sequence[Sequence[int]]) -> str:
    """An OR of ANDs over quoted terms, e.g. `("acme" AND "found") OR ("vantor")`."""
    return " OR ".join("(" + " AND ".join(phrases[i] for i in group) + ")" for group in groups)


def weighted_terms(conn: sa.Connection, terms: Sequence[str]) -> tuple[list[Term], int]:
    """The terms that occur in the index, rarest first, weighted by IDF, and the index's size;
    one round trip."""
    counts = [
        sa.select(sa.func.count())
        .select_from(_FTS)
        .where(_FTS_TABLE.op("MATCH")(_quoted(term)))
        .scalar_subquery()
        .label(f"df{n}")
        for n, term in enumerate(terms)
    ]
    # FTS5's own table of document lengths holds a row per indexed chunk: counting it is the
    # index's size, as bm25() takes it, and costs microseconds (its rows are tiny)
    total = sa.select(sa.func.count()).select_from(sa.table("chunks_fts_docsize")).scalar_subquery()
    row = conn.execute(sa.select(total.label("total"), *counts)).one()
    size = max(row.total or 0, 1)
    found = [Term(term, df, idf(df, size)) for term, df in zip(terms, row[1:], strict=True) if df > 0]
    return sorted(found, key=lambda term: (term.df, term.lexeme)), size


def ranked_rows(
    conn: sa.Connection,
    terms: Sequence[str],
    conditions: Sequence[sa.ColumnElement[bool]],
    selected: Sequence[sa.ColumnElement[Any]],
    top_k: int,
) -> tuple[list[sa.Row[Any]], float]:
    """The `top_k` best chunks passing `conditions` (the KB and filters), each with its `score`, and
    the question's `rarity` (over the whole index: FTS5 keeps no per-KB statistics)."""
    weighted, size = weighted_terms(conn, terms)
    if not weighted:
        return [], 0.0
    rare = rarity(weighted, size)
    everything = " OR ".join(_quoted(term.lexeme) for term in weighted)
    if sum(term.df for term in weighted) <= EXACT_POSTINGS:
        return _bm25_rows(conn, everything, conditions, selected, top_k), rare
    lead = weighted[:MAX_LEVEL_TERMS]
    phrases = [_quoted(term.lexeme) for term in lead]
    weights = [term.idf for term in lead]
    thresholds = levels(weights)

    def matching(expression: str) -> sa.Select[Any]:
        # The index drives and each match's row is checked by its key. As a join, SQLite may walk
        # the KB's rows instead and re-run the full-text query for each (seconds, not milliseconds).
        passes = sa.exists().where(chunks.c.seq == _FTS.c.rowid, *conditions)
        return sa.select(_FTS.c.rowid.label("seq")).where(_FTS_TABLE.op("MATCH")(expression), passes)

    def reaching(threshold: float) -> str:
        return match_expression(phrases, clauses(weights, threshold))

    def holds_top_k(threshold: float) -> bool:
        return holds_at_least(conn, matching(reaching(threshold)), top_k)

    def with_bm25(expression: str) -> sa.Select[Any]:
        """The chunks matching `expression`, with bm25() over it AND every term of the question:
        the second part matches whenever the first does, so it only adds the other terms to the
        tie-break (bm25() counts a term once per place it appears in the query, so the terms of
        `expression` weigh more)."""
        ranked = f"({expression}) AND ({everything})"
        return matching(ranked).add_columns(sa.func.bm25(_FTS_TABLE).label("bm25"))

    at = first_full_level(thresholds, holds_top_k)
    # seq -> (score, tie-break); bm25() is lower for better matches
    scored: dict[int, tuple[float, float]] = {}
    if at > 0:  # every chunk above the level: fewer than top_k, each scored by the terms it holds
        above = conn.execute(with_bm25(reaching(thresholds[at - 1]))).all()
        held = _terms_held(conn, phrases, [row.seq for row in above])
        for row in above:
            scored[row.seq] = (sum(weights[i] for i in held.get(row.seq, ())), -row.bm25)
    # the chunks at the level hold exactly one of its term sets (and nothing rarer)
    at_level = match_expression(phrases, exact_sets(weights, thresholds[at]))
    for row in conn.execute(with_bm25(at_level).limit(CANDIDATES + len(scored))).all():
        scored.setdefault(row.seq, (thresholds[at], -row.bm25))
    if len(scored) < top_k and len(weighted) > MAX_LEVEL_TERMS:
        # The KB holds fewer than top_k chunks with a lead term (the rarest terms of the whole
        # index may live in other KBs): its chunks holding only the other terms count too.
        return _bm25_rows(conn, everything, conditions, selected, top_k), rare
    best = sorted(scored, key=lambda seq: (-scored[seq][0], -scored[seq][1], seq))[:top_k]
    return _rows(conn, selected, best, {seq: scored[seq][0] for seq in best}), rare


def _bm25_rows(
    conn: sa.Connection,
    expression: str,
    conditions: Sequence[sa.ColumnElement[Any]],
    selected: Sequence[sa.ColumnElement[Any]],
    top_k: int,
) -> list[sa.Row[Any]]:
    """Every match ranked by BM25 (negated: higher is better), best first."""
    candidates = max(top_k * BM25_OVERFETCH, BM25_MIN_CANDIDATES)
    rows = conn.execute(_bm25_query(expression, candidates, selected).where(*conditions).limit(top_k)).all()
    if len(rows) < top_k:
        rows = conn.execute(_bm25_query(expression, None, selected).where(*conditions).limit(top_k)).all()
    return list(rows)


def _bm25_query(
    expression: str, candidates: int | None, selected: Sequence[sa.ColumnElement[Any]]
) -> sa.Select[Any]:
    """The best `candidates` matches by BM25 (all of them for None), joined to their rows."""
    bm25 = sa.func.bm25(_FTS_TABLE)  # lower is better
    ranked = sa.select(_FTS.c.rowid.label("seq"), bm25.label("bm25")).where(
        _FTS_TABLE.op("MATCH")(expression)
    )
    best = (
        ranked.order_by(bm25) if candidates is None else ranked.order_by(bm25).limit(candidates)
    ).subquery()
    return (
        sa.select(*selected, (-best.c.bm25).label("score"))
        .select_from(best.join(chunks, chunks.c.seq == best.c.seq).join(documents))
        .order_by(best.c.bm25, chunks.c.seq)
    )


def _terms_held(conn: sa.Connection, phrases: Sequence[str], seqs: Sequence[int]) -> dict[int, set[int]]:
    """Which of the phrases each chunk holds (by position in `phrases`); one round trip."""
    if not seqs:
        return {}
    per_term = [
        sa.select(sa.literal(n).label("term"), _FTS.c.rowid.label("seq")).where(
            _FTS_TABLE.op("MATCH")(phrase), _FTS.c.rowid.in_(seqs)
        )
        for n, phrase in enumerate(phrases)
    ]
    held: dict[int, set[int]] = {}
    for term, seq in conn.execute(sa.union_all(*per_term)).all():
        held.setdefault(seq, set()).add(term)
    return held


def _rows(
    conn: sa.Connection, selected: Sequence[sa.ColumnElement[Any]], order: list[int], scores: dict[int, float]
) -> list[sa.Row[Any]]:
    """The chunks' rows in `order`, each with its score."""
    if not order:
        return []
    score = sa.case(scores, value=chunks.c.seq, else_=0.0).label("score")
    query = (
        sa.select(chunks.c.seq.label("_seq"), *selected, score)
        .select_from(chunks.join(documents))
        .where(chunks.c.seq.in_(order))
    )
    found = {row._seq: row for row in conn.execute(query).all()}
    return [found[seq] for seq in order if seq in found]
