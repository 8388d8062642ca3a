"""Score levels shared by both keyword backends: terms weighted by IDF, and the boolean queries
that find the chunks reaching a score without ranking every match.

A chunk scores the summed IDF of the question's terms it contains (BM25 with binary term
frequency). The possible scores form levels, the distinct sums of term weights, and "scores at
least t" is an OR of the smallest term sets whose weights reach t: a query a full-text index
answers by intersecting posting lists, with no ranking function called per match. A binary search
over the levels finds the highest one that holds `top_k` chunks; only the chunks above it and at
most CANDIDATES at it are ranked. Common words ("work", "system") match half of a large KB, and
ranking all their matches was what made keyword search slow at 100k chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import sqlalchemy as sa

#: the most chunks ranked at the last level (they tie on score); PostgreSQL also ranks directly
#: the matches of questions whose terms match at most this many chunks in all
CANDIDATES = 500
#: levels are built from this many of the rarest terms (2^n subsets)
MAX_LEVEL_TERMS = 6
#: subset sums closer than this are one level (floating-point noise, not a different score)
SAME_LEVEL = 1e-9


@dataclass(frozen=True)
class Term:
    """One term of the question, with its document frequency and weight (per KB on PostgreSQL,
    over the whole index on SQLite)."""

    lexeme: str
    df: int
    idf: float


def idf(df: int, total: int) -> float:
    """BM25's inverse document frequency: always positive, high for rare terms."""
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


def rarity(terms: Sequence[Term], total: int) -> float:
    """How much the question's rarest term says, in [0, 1]: its IDF against that of a term held by
    one chunk, doubled and capped, so any term held by at most about √total chunks counts fully.

    A question whose terms are all common ("what is the best way to do it") matches half the KB
    about equally; its keyword list is an arbitrary sample, and fusion should not count it.
    """
    if not terms or total <= 1:
        return 0.0
    return min(1.0, 2.0 * max(term.idf for term in terms) / idf(1, total))


def levels(weights: Sequence[float]) -> list[float]:
    """Every score a chunk can reach with these term weights (non-empty subset sums), highest first."""
    sums = sorted({sum(subset) for n in range(1, len(weights) + 1) for subset in combinations(weights, n)})
    distinct: list[float] = []
    for value in reversed(sums):
        if not distinct or distinct[-1] - value > SAME_LEVEL:
            distinct.append(value)
    return distinct


def clauses(weights: Sequence[float], threshold: float) -> list[tuple[int, ...]]:
    """The smallest sets of term positions whose weights reach `threshold`: a chunk scores at least
    `threshold` exactly when it contains every term of one of them."""
    found: list[tuple[int, ...]] = []
    for n in range(1, len(weights) + 1):
        for subset in combinations(range(len(weights)), n):
            if sum(weights[i] for i in subset) < threshold - SAME_LEVEL:
                continue
            if not any(set(smaller) <= set(subset) for smaller in found):
                found.append(subset)
    return found


def exact_sets(weights: Sequence[float], level: float) -> list[tuple[int, ...]]:
    """The term sets whose weights sum to `level`: a chunk scores exactly `level` when it holds
    one of them and nothing more (usually one set; equal weights can make several)."""
    return [
        subset
        for n in range(1, len(weights) + 1)
        for subset in combinations(range(len(weights)), n)
        if abs(sum(weights[i] for i in subset) - level) <= SAME_LEVEL
    ]


def first_full_level(thresholds: Sequence[float], holds_top_k: Callable[[float], bool]) -> int:
    """The highest level (lowest index) holding at least `top_k` chunks; the last when none does.

    `holds_top_k(t)` says whether at least `top_k` chunks score `t` or more; it is monotone in `t`,
    so a binary search needs log2(levels) probes.
    """
    low, high = 0, len(thresholds) - 1
    while low < high:
        middle = (low + high) // 2
        if holds_top_k(thresholds[middle]):
            high = middle
        else:
            low = middle + 1
    return low


def holds_at_least(conn: sa.Connection, query: sa.Select[Any], count: int) -> bool:
    """Whether `query` returns at least `count` rows, reading no more than that: a level probe."""
    probe = query.limit(count).subquery()
    return conn.execute(sa.select(sa.func.count()).select_from(probe)).scalar_one() >= count
