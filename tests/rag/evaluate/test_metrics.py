"""Metric functions against examples computed by hand."""

from __future__ import annotations

import math

import pytest

from rag.evaluate.metrics import (
    answer_tokens,
    complete_at,
    contains_answer,
    exact_match,
    ndcg_at,
    recall_at,
    reciprocal_rank,
    token_f1,
)

pytestmark = pytest.mark.fast


def test_recall_counts_each_gold_passage_found_in_the_top_k() -> None:
    gold = {"a": 1, "b": 1}
    assert recall_at(["x", "a", "y", "b"], gold, 2) == 0.5
    assert recall_at(["x", "a", "y", "b"], gold, 4) == 1.0
    assert recall_at([], gold, 10) == 0.0


def test_complete_needs_every_gold_passage() -> None:
    gold = {"a": 1, "b": 1}
    assert complete_at(["a", "x", "b"], gold, 2) == 0.0
    assert complete_at(["a", "x", "b"], gold, 3) == 1.0


def test_ndcg_with_graded_relevance() -> None:
    gold = {"a": 2, "b": 1}
    # ranked b, x, a: DCG = (2^1-1)/log2(2) + 0 + (2^2-1)/log2(4) = 1 + 1.5 = 2.5
    # ideal a, b:     IDCG = 3/log2(2) + 1/log2(3) = 3 + 0.6309...
    expected = 2.5 / (3 + 1 / math.log2(3))
    assert ndcg_at(["b", "x", "a"], gold, 10) == pytest.approx(expected)
    assert ndcg_at(["a", "b"], gold, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], gold, 10) == 0.0
    assert ndcg_at(["b", "x", "a"], gold, 2) == pytest.approx(1 / (3 + 1 / math.log2(3)))


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_passage() -> None:
    assert reciprocal_rank(["x", "y", "a", "b"], {"a": 1, "b": 1}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], {"a": 1}) == 0.0


def test_answers_are_normalised_like_squad() -> None:
    assert answer_tokens("The  Eiffel Tower!") == ["eiffel", "tower"]
    assert exact_match("the eiffel tower.", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0


def test_token_f1_takes_the_best_gold_answer() -> None:
    # prediction "paris france" vs "paris": precision 1/2, recall 1 → F1 2/3
    assert token_f1("Paris, France", ["Paris", "Lyon"]) == pytest.approx(2 / 3)
    assert token_f1("Berlin", ["Paris"]) == 0.0


def test_an_answer_is_contained_when_its_tokens_stand_together_in_order() -> None:
    assert contains_answer("She joined Northwind in 2019.", ["2019"]) == 1.0
    assert contains_answer("It is in Columbus, Ohio, USA", ["columbus ohio"]) == 1.0
    assert contains_answer("Ohio's Columbus", ["Columbus, Ohio"]) == 0.0
    assert contains_answer("位于澳洲南部岛屿", ["澳洲南部"]) == 1.0
    assert contains_answer("anything", [""]) == 0.0


def test_chinese_answers_are_compared_per_character() -> None:
    assert answer_tokens("踢爆。") == ["踢", "爆"]
    # "4分钟内" vs "4分钟": shared 4, 分, 钟 → precision 3/4, recall 1 → F1 6/7
    assert token_f1("4分钟内", ["4分钟"]) == pytest.approx(6 / 7)
    assert exact_match("4 分钟", ["4分钟"]) == 1.0


def test_citation_markers_are_not_part_of_the_answer() -> None:
    assert exact_match("Columbus, Ohio [1].", ["Columbus, Ohio"]) == 1.0
    assert token_f1("Leland [1][3].", ["Leland"]) == 1.0
    assert exact_match("1893 [2, 4]", ["1893"]) == 1.0
