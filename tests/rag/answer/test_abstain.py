"""Abstention: the answer-absent levels, and the words a model uses to say it does not know."""

from __future__ import annotations

import pytest

from rag.answer.abstain import absent_share, model_abstained, not_in_kb, unconvincing

pytestmark = pytest.mark.fast

LEVELS = [0.70, 0.72, 0.75, 0.78, 0.80, 0.81, 0.83, 0.85, 0.88, 0.90]


def test_a_score_is_placed_among_the_answer_absent_levels() -> None:
    assert absent_share(0.60, LEVELS) == 0.0
    assert absent_share(0.80, LEVELS) == 0.4
    assert absent_share(0.95, LEVELS) == 1.0


def test_only_a_match_worse_than_most_answer_absent_ones_is_unconvincing() -> None:
    assert unconvincing(0.71, LEVELS, 0.2)
    assert not unconvincing(0.76, LEVELS, 0.2)
    assert not unconvincing(0.10, [], 0.2)  # no calibration: never before the model
    assert not unconvincing(None, LEVELS, 0.2)  # no dense list
    assert not unconvincing(0.10, LEVELS, 0.0)  # switched off


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know.",
        "The sources do not mention when she joined.",
        "There is no information about this in the sources.",
        "I cannot answer this from the given sources.",
        "资料中没有提到她的加入时间。",
        "我不知道。",
    ],
)
def test_a_model_saying_it_does_not_know_is_an_abstention(answer: str) -> None:
    assert model_abstained(answer)


@pytest.mark.parametrize(
    "answer",
    ["Lena Park joined in 2019 [2].", "Northwind Robotics was founded in 2014.", "深圳办公室由李娜负责。"],
)
def test_an_answer_is_not_an_abstention(answer: str) -> None:
    assert not model_abstained(answer)


def test_the_abstention_speaks_the_question_s_language() -> None:
    assert "knowledge base" in not_in_kb("Who founded it?")
    assert "知识库" in not_in_kb("谁创立了它？")
