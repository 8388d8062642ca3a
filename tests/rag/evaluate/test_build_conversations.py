"""The conversation builder on the shared HotpotQA and CMRC sets: the shapes it promises, held-out
questions whose passages are gone, and the same bytes on every run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.evaluate.build_conversations import build, hold_out, main, read_source, summary
from rag.evaluate.conversations import Conversation, EvalTurn, read_conversation_set
from rag.evaluate.dataset import DatasetError, read_eval_set
from tests.builders import DATASETS

pytestmark = pytest.mark.fast

LIMIT = 20
_ENGLISH_PRONOUN = re.compile(r"\b(?:he|him|his|she|her|it|its|they|them|their|that person)\b", re.IGNORECASE)


def _shared(name: str) -> Path:
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing: the shared data sets sit beside the repository")
    return folder


@pytest.fixture(params=["hotpotqa_100", "cmrc2018_trial"])
def written(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    out = tmp_path / request.param
    assert main([str(_shared(request.param)), str(out), "--limit", str(LIMIT)]) == 0
    return out


def _pronouns(text: str) -> int:
    return len(_ENGLISH_PRONOUN.findall(text)) + sum(text.count(p) for p in "他她它")


def test_each_follow_up_differs_from_its_standalone_form_and_refers_back(written: Path) -> None:
    built = read_conversation_set(written)
    assert len(built.conversations) == LIMIT
    follow_ups = [t for c in built.conversations for t in c.turns[1:]]
    assert follow_ups and all(t.follow_up for t in follow_ups)
    for conversation in built.conversations:
        assert not conversation.turns[0].follow_up
        last = conversation.turns[-1]
        if conversation.shape in ("pronoun", "pair"):
            assert _pronouns(last.question) > _pronouns(last.standalone), last
            assert len(last.question) < len(last.standalone)
        if conversation.shape == "pair":
            assert conversation.turns[1].question.startswith("What about ")


def test_unanswerable_turns_have_their_passages_removed_and_make_a_quarter(written: Path) -> None:
    built = read_conversation_set(written)
    corpus = {p.id for p in built.passages}
    turns = built.turns
    unanswerable = [t for t in turns if not t.answerable]
    assert 0.2 <= len(unanswerable) / len(turns) <= 0.3
    assert any(t.follow_up for t in unanswerable) and any(not t.follow_up for t in unanswerable)
    for turn in unanswerable:
        assert turn.gold == {} and turn.held_out and not set(turn.held_out) & corpus
    kept = {pid for t in turns for pid in t.gold}
    assert kept <= corpus
    # questions.jsonl holds the answerable turns' standalone forms, so `rag eval` reads the folder
    assert len(read_eval_set(written).questions) == len(turns) - len(unanswerable)


def test_held_out_hotpotqa_questions_keep_their_distractors(tmp_path: Path) -> None:
    source = read_source(_shared("hotpotqa_100"))
    built = build(source, limit=LIMIT)
    corpus = {p.id for p in built.passages}
    held = [c for c in built.conversations if not c.turns[-1].answerable]
    candidate = {c.conversation.id: c for c in source.candidates}
    for conversation in held:
        context = set(candidate[conversation.id].context)
        removed = set(conversation.turns[-1].held_out)
        assert context - removed and context - removed <= corpus


def test_off_topic_hotpotqa_questions_lose_their_distractors_too() -> None:
    source = read_source(_shared("hotpotqa_100"))
    near, off = build(source, limit=LIMIT), build(source, limit=LIMIT, kind="off-topic")
    assert [c.id for c in near.conversations if not c.turns[0].answerable] == [
        c.id for c in off.conversations if not c.turns[0].answerable
    ], "the same conversations are held out: the sets differ only in their corpus"
    candidate = {c.conversation.id: c for c in source.candidates}
    kept = {pid for c in off.conversations if c.turns[0].answerable for pid in candidate[c.id].context}
    corpus = {p.id for p in off.passages}
    assert corpus < {p.id for p in near.passages}
    for conversation in off.conversations:
        if conversation.turns[0].answerable:
            assert {t.unanswerable_kind for t in conversation.turns} == {""}
            continue
        assert {t.unanswerable_kind for t in conversation.turns} == {"off-topic"}
        assert set(candidate[conversation.id].context) & corpus <= kept  # left: other questions' context
    assert {t.unanswerable_kind for t in near.turns if not t.answerable} == {"near-miss"}


def test_cmrc_questions_held_out_are_off_topic_whichever_kind_is_asked() -> None:
    source = read_source(_shared("cmrc2018_trial"))
    for kind in ("near-miss", "off-topic"):
        built = build(source, limit=LIMIT, kind=kind)
        assert {t.unanswerable_kind for t in built.turns if not t.answerable} == {"off-topic"}
    with pytest.raises(DatasetError, match="unanswerable kind 'far'"):
        build(source, kind="far")


def test_every_hotpotqa_shape_is_made_and_counted(tmp_path: Path) -> None:
    counts = summary(build(read_source(_shared("hotpotqa_100")), limit=LIMIT))
    assert {"pair", "pronoun", "single", "all"} <= set(counts)
    assert counts["all"]["conversations"] == LIMIT
    assert counts["pair"]["turns"] == 3 * counts["pair"]["conversations"]
    assert counts["all"]["turns"] == sum(counts[s]["turns"] for s in ("pair", "pronoun", "single"))


@pytest.mark.parametrize(
    ("name", "kind"), [("hotpotqa_100", "near-miss"), ("hotpotqa_100", "off-topic"), ("cmrc2018_trial", "")]
)
def test_two_runs_write_the_same_bytes(tmp_path: Path, name: str, kind: str) -> None:
    options = ["--unanswerable-kind", kind] if kind else []
    for run in ("a", "b"):
        assert main([str(_shared(name)), str(tmp_path / run), "--limit", "12", *options]) == 0
    for file in ("corpus.jsonl", "conversations.jsonl", "questions.jsonl"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def _hotpotqa(folder: Path, *records: dict[str, object]) -> Path:
    corpus = {
        "Grace Krilanovich": ["Grace Krilanovich (born 1979) is an American author.", " She lives in LA."],
        "Two Dollar Radio": ["Two Dollar Radio is a publisher founded in 2005 in Columbus, Ohio."],
        "Medici (board game)": ["Medici is a German-style board game."],
        "Senet": ["Senet is a board game from ancient Egypt."],
        "Rome": ["Rome is a city."],
    }
    folder.mkdir()
    (folder / "qa.json").write_text(json.dumps(list(records)), encoding="utf-8")
    (folder / "train_corpus.json").write_text(json.dumps(corpus), encoding="utf-8")
    return folder


def _record(qid: str, question: str, titles: list[str], answer: str) -> dict[str, object]:
    facts = [[title, 0] for title in titles]
    context = [[title, ["(the corpus file's sentences come first)"]] for title in titles]
    return {"_id": qid, "question": question, "answer": answer, "supporting_facts": facts, "context": context}


def test_a_hotpotqa_question_becomes_the_shape_that_fits_it(tmp_path: Path) -> None:
    folder = _hotpotqa(
        tmp_path / "src",
        _record(
            "q1",
            "Grace Krilanovich's publisher is based where?",
            ["Grace Krilanovich", "Two Dollar Radio"],
            "Ohio",
        ),
        _record("q2", "Are Medici and Senet both board games?", ["Medici (board game)", "Senet"], "yes"),
        _record("q3", "Which publisher was founded in 2005?", ["Two Dollar Radio"], "Two Dollar Radio"),
    )
    built = build(read_source(folder), limit=0, unanswerable=0.0)
    pronoun, pair, single = built.conversations
    assert [t.question for t in pronoun.turns] == [
        "Who is Grace Krilanovich?",
        "Her publisher is based where?",
    ]
    assert pronoun.turns[1].standalone == "Grace Krilanovich's publisher is based where?"
    assert pronoun.turns[1].answers == ["Ohio"] and pronoun.turns[0].answers == []
    assert [t.question for t in pair.turns] == [
        "What is Medici?",
        "What about Senet?",
        "Are they both board games?",
    ]
    assert pair.turns[1].standalone == "What is Senet?" and pair.turns[1].gold == {"Senet": 1}
    assert single.shape == "single" and not single.turns[0].follow_up
    assert {p.id for p in built.passages} == {
        "Grace Krilanovich",
        "Two Dollar Radio",
        "Medici (board game)",
        "Senet",
    }


def test_a_hotpotqa_question_whose_passage_is_missing_is_named(tmp_path: Path) -> None:
    folder = _hotpotqa(tmp_path / "src", _record("q9", "Who is Nobody?", ["Nobody"], "x"))
    (folder / "qa.json").write_text(
        json.dumps([{"_id": "q9", "question": "?", "supporting_facts": [["Nobody", 0]]}])
    )
    with pytest.raises(
        DatasetError, match=r"question q9: supporting passages missing from the corpus: \['Nobody'\]"
    ):
        read_source(folder)
    (folder / "qa.json").write_text(json.dumps([{"_id": "q8", "supporting_facts": []}]))
    with pytest.raises(DatasetError, match=r"question q8: missing field 'question'"):
        read_source(folder)
    (folder / "qa.json").write_text(
        json.dumps([{"_id": "q7", "supporting_facts": [], "context": [["A", 0]]}])
    )
    with pytest.raises(DatasetError, match=r"question q7: `context` must be \[title, sentences\] pairs"):
        read_source(folder)


def test_a_conversation_sharing_gold_with_a_kept_one_is_not_held_out() -> None:
    def conversation(cid: str, *gold: str) -> Conversation:
        return Conversation(cid, [EvalTurn("q?", "q?", dict.fromkeys(gold, 1))])

    shared = [conversation("a", "p1", "p2"), conversation("b", "p2"), conversation("c", "p3")]
    assert hold_out(shared, 0.6) == {"c"}, "a and b share p2: removing it would break the other"
    assert hold_out(shared, 0.0) == set()


def test_a_layout_it_cannot_build_from_fails_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "corpus.jsonl").write_text(json.dumps({"id": "p", "text": "t"}) + "\n")
    (tmp_path / "src" / "questions.jsonl").write_text(
        json.dumps({"id": "q", "question": "?", "gold": ["p"]}) + "\n"
    )
    assert main([str(tmp_path / "src"), str(tmp_path / "out")]) == 2
    assert "from HotpotQA or CMRC 2018, not project" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="not a folder"):
        read_source(tmp_path / "nowhere")
