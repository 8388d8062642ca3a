"""The score levels both keyword backends search: subset sums, the term sets reaching a score,
the sets making it exactly, and the binary search for the first level holding top_k chunks."""

from __future__ import annotations

import pytest

from rag.retrieve.keyword_levels import clauses, exact_sets, first_full_level, idf, levels

pytestmark = pytest.mark.fast


def test_levels_are_the_distinct_scores_a_chunk_can_reach_highest_first() -> None:
    assert levels([2.0, 1.0, 1.0]) == [4.0, 3.0, 2.0, 1.0]
    assert levels([0.5]) == [0.5]


def test_clauses_are_the_smallest_term_sets_that_reach_a_score() -> None:
    weights = [3.0, 2.0, 1.0]
    assert clauses(weights, 3.0) == [(0,), (1, 2)]
    assert clauses(weights, 6.0) == [(0, 1, 2)]
    assert clauses(weights, 1.0) == [(0,), (1,), (2,)]


def test_exact_sets_are_every_term_set_summing_to_the_level() -> None:
    assert exact_sets([3.0, 2.0, 1.0], 3.0) == [(0,), (1, 2)]
    assert exact_sets([2.0, 1.0, 1.0], 1.0) == [(1,), (2,)]
    assert exact_sets([2.0, 1.0], 2.5) == []


def test_first_full_level_is_the_highest_level_holding_top_k() -> None:
    counts = {6.0: 0, 5.0: 1, 4.0: 3, 3.0: 8, 2.0: 9, 1.0: 20}  # chunks scoring at least each level
    thresholds = sorted(counts, reverse=True)
    assert first_full_level(thresholds, lambda t: counts[t] >= 3) == 2
    assert first_full_level(thresholds, lambda t: counts[t] >= 1) == 1
    assert first_full_level(thresholds, lambda t: counts[t] >= 50) == len(thresholds) - 1  # none: the last


def test_idf_is_positive_and_falls_as_terms_get_common() -> None:
    weights = [idf(df, 1000) for df in (1, 10, 500, 1000)]
    assert all(weight > 0 for weight in weights)
    assert weights == sorted(weights, reverse=True)
