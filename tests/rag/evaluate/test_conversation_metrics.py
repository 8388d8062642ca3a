"""Conversation scores against small runs worked out by hand."""

from __future__ import annotations

import pytest

from rag.evaluate.conversation_metrics import (
    ScoredTurn,
    abstention_rates,
    against_targets,
    citation_coverage,
    citation_scores,
    conversation_scores,
    follow_up_recall,
    grounded_answers,
    is_right,
)

pytestmark = pytest.mark.fast


def _turn(gold: str = "", **fields: object) -> ScoredTurn:
    values: dict[str, object] = {"gold": frozenset(gold.split()), "follow_up": False, "ranked": ()}
    return ScoredTurn(**{**values, **fields})  # type: ignore[arg-type]


def test_follow_up_recall_is_held_to_the_standalone_forms() -> None:
    turns = [
        # found one of two gold passages as asked, both when asked standalone
        _turn("a b", follow_up=True, ranked=("a", "x"), standalone_ranked=("b", "a")),
        # found nothing as asked, its one passage standalone
        _turn("c", follow_up=True, ranked=("x",) * 5 + ("c",), standalone_ranked=("c",)),
        _turn("d", ranked=()),  # a first turn: not a follow-up, not counted
        _turn("", follow_up=True, ranked=("a",)),  # unanswerable: no recall to speak of
    ]
    scores = follow_up_recall(turns)
    assert scores["follow_up_recall@5"] == pytest.approx(0.25)
    assert scores["standalone_recall@5"] == pytest.approx(1.0)
    assert scores["follow_up_recall@5_ratio"] == pytest.approx(0.25)
    assert follow_up_recall([_turn("d")]) == {}
    assert scores["verbatim_recall@5"] == 0.0  # word for word, neither follow-up found a thing
    lost = follow_up_recall([_turn("a", follow_up=True, ranked=("a",), standalone_ranked=("x",))])
    assert "follow_up_recall@5_ratio" not in lost, "no ratio to a baseline of 0"


def test_citation_coverage_counts_answers_not_abstentions() -> None:
    turns = [
        _turn("a", written=("a",)),
        _turn("a", attributed=("b",)),
        _turn("a"),
        _turn("a", abstained="no_evidence"),
    ]
    assert citation_coverage(turns) == {"cited_answers": pytest.approx(2 / 3)}
    assert citation_coverage([_turn("a", abstained="model")]) == {}


def test_citation_precision_and_recall_count_written_and_attributed_apart() -> None:
    turns = [
        _turn("a b", written=("a", "x"), attributed=("b",)),
        _turn("c", written=("c",)),
        _turn("d"),  # answered, cites nothing: recall 0, no precision
        _turn("e", written=("e",), abstained="model"),  # an abstention is no answer
        _turn("", written=("x",)),  # unanswerable: not judged against gold
    ]
    scores = citation_scores(turns)
    assert scores["citation_precision_written"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["citation_recall_written"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert scores["citation_precision_attributed"] == pytest.approx(1.0)
    assert scores["citation_recall_attributed"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert scores["citation_precision_all"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert scores["citation_recall_all"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)


def test_a_right_answer_is_grounded_when_it_cites_a_gold_passage() -> None:
    assert is_right("Columbus, Ohio", ["Columbus, Ohio"]) and is_right(
        "in Columbus Ohio USA", ["Columbus, Ohio"]
    )
    assert not is_right("Ohio", ["Columbus, Ohio, United States"]) and not is_right("x", [])
    turns = [
        _turn("a", answer="Lyon", answers=("Lyon",), attributed=("a",)),  # right, grounded
        _turn("a", answer="Lyon", answers=("Lyon",), written=("x",)),  # right, cites a wrong passage
        _turn("a", answer="Paris", answers=("Lyon",), written=("a",)),  # wrong
        _turn("a", answer="Lyon", answers=("Lyon",), abstained="model"),  # abstained: not right
        _turn("a", answer="whatever"),  # no reference answer: not judged
        _turn("a", answer="It is in Lyon, as the sources say.", answers=("Lyon",), attributed=("a",)),
    ]
    assert grounded_answers(turns) == {
        "right": pytest.approx(2 / 5),
        "right_cites_gold": pytest.approx(0.5),
        "contains_answer": pytest.approx(3 / 5),  # the sentence holds the answer too
        "contains_answer_cites_gold": pytest.approx(2 / 3),
    }
    assert grounded_answers([_turn("a", answer="no", answers=("yes",))]) == {
        "right": 0.0,
        "contains_answer": 0.0,
    }


def test_abstention_is_right_on_unanswerable_turns_and_wrong_on_answerable_ones() -> None:
    turns = [
        _turn("", abstained="no_evidence"),
        _turn("", abstained="model"),
        _turn("", answer="made up"),
        _turn("", abstained="no_evidence"),
        _turn("a", abstained="model"),
        _turn("a", answer="Lyon"),
    ]
    scores = abstention_rates(turns)
    assert scores["abstained_unanswerable"] == pytest.approx(0.75)
    assert scores["abstained_unanswerable_no_evidence"] == pytest.approx(0.5)
    assert scores["abstained_unanswerable_model"] == pytest.approx(0.25)
    assert scores["abstained_answerable"] == pytest.approx(0.5)
    assert scores["abstained_answerable_no_evidence"] == 0.0
    assert abstention_rates([_turn("a")]) == {
        "abstained_answerable": 0.0,
        "abstained_answerable_no_evidence": 0.0,
        "abstained_answerable_model": 0.0,
    }


def test_abstention_on_unanswerable_turns_is_given_per_kind_too() -> None:
    turns = [
        _turn("", abstained="no_evidence", unanswerable_kind="off-topic"),
        _turn("", abstained="model", unanswerable_kind="near-miss"),
        _turn("", answer="made up", unanswerable_kind="near-miss"),
        _turn("", answer="made up"),  # a hand-made set may not say
    ]
    scores = abstention_rates(turns)
    assert scores["abstained_unanswerable"] == pytest.approx(0.5)
    assert scores["abstained_unanswerable_off_topic"] == 1.0
    assert scores["abstained_unanswerable_off_topic_no_evidence"] == 1.0
    assert scores["abstained_unanswerable_near_miss"] == pytest.approx(0.5)
    assert scores["abstained_unanswerable_near_miss_model"] == pytest.approx(0.5)
    assert "abstained_answerable" not in scores


def test_targets_are_met_or_missed_by_the_figures_the_run_has() -> None:
    scores = {
        "follow_up_recall@5_ratio": 0.95,
        "cited_answers": 0.9,
        "abstained_unanswerable": 0.8,
        "abstained_unanswerable_near_miss": 0.6,
        "abstained_unanswerable_near_miss_model": 0.6,
        "abstained_answerable": 0.2,
    }
    judged = against_targets(scores)
    assert {name: row["met"] for name, row in judged.items()} == {
        "follow_up_recall@5_ratio": True,
        "cited_answers": False,
        "abstained_unanswerable": True,
        "abstained_unanswerable_near_miss": False,
        "abstained_answerable": False,
    }
    assert judged["abstained_answerable"] == {"value": 0.2, "target": "<= 0.1", "met": False}


def test_conversation_scores_gathers_every_figure() -> None:
    turns = [
        _turn("a", answer="Lyon", answers=("Lyon",), written=("a",), ranked=("a",)),
        _turn("a b", follow_up=True, ranked=("a",), standalone_ranked=("a", "b"), attributed=("b",)),
        _turn("", abstained="no_evidence"),
    ]
    scores = conversation_scores(turns)
    assert scores["follow_up_recall@5_ratio"] == pytest.approx(0.5)
    assert scores["cited_answers"] == 1.0 and scores["right_cites_gold"] == 1.0
    assert scores["abstained_unanswerable"] == 1.0 and scores["abstained_answerable"] == 0.0
    assert scores["citation_precision_written"] == 1.0 and scores["citation_recall_attributed"] == 0.25
