"""conversations.jsonl: read back what is written, and every mistake named by file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.evaluate.conversations import (
    Conversation,
    ConversationSet,
    EvalTurn,
    read_conversation_set,
    write_conversation_set,
)
from rag.evaluate.dataset import DatasetError, Passage, read_eval_set

pytestmark = pytest.mark.fast

CORPUS = [{"id": "p1", "title": "Etna", "text": "A volcano in Sicily."}, {"id": "p2", "text": "Rome."}]
GOOD = {
    "id": "c1",
    "turns": [
        {"question": "What is Etna?", "gold": ["p1"]},
        {
            "question": "Where is it?",
            "standalone": "Where is Etna?",
            "gold": {"p1": 2},
            "answers": ["Sicily"],
        },
        {"question": "Who climbed it first?", "standalone": "Who climbed Etna first?", "answerable": False},
    ],
}


def _folder(tmp_path: Path, *conversations: Any) -> Path:
    lines = [json.dumps(c) if isinstance(c, dict) else c for c in conversations]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(p) + "\n" for p in CORPUS), encoding="utf-8")
    (tmp_path / "conversations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_turns_read_with_their_defaults(tmp_path: Path) -> None:
    read = read_conversation_set(_folder(tmp_path, GOOD))
    first, second, third = read.conversations[0].turns
    assert first == EvalTurn("What is Etna?", "What is Etna?", {"p1": 1}, [], answerable=True)
    assert not first.follow_up and second.follow_up and second.gold == {"p1": 2}
    assert third.gold == {} and not third.answerable and third.answers == []
    assert [t.question for t in read.turns] == ["What is Etna?", "Where is it?", "Who climbed it first?"]


def test_a_written_set_reads_back_and_is_a_project_set_of_its_standalone_forms(tmp_path: Path) -> None:
    turns = [
        EvalTurn("Who is Ann?", "Who is Ann?", {"p1": 1}),
        EvalTurn("Where does she live?", "Where does Ann live?", {"p1": 1, "p2": 1}, ["Rome"]),
    ]
    held = [
        EvalTurn("What is Bob?", "What is Bob?", {}, answerable=False, held_out=["p9"]),
        EvalTurn("Is he?", "Is Bob?", {}, answerable=False, unanswerable_kind="off-topic"),
    ]
    original = ConversationSet(
        "s",
        [Passage("p1", "Ann", "Ann lives in Rome."), Passage("p2", "", "Rome.")],
        [Conversation("a", turns, "pronoun"), Conversation("b", held)],
    )
    write_conversation_set(original, tmp_path)
    again = read_conversation_set(tmp_path)
    assert again.conversations == original.conversations and again.passages == original.passages
    standalone = read_eval_set(tmp_path)
    assert [(q.id, q.question) for q in standalone.questions] == [
        ("a/1", "Who is Ann?"),
        ("a/2", "Where does Ann live?"),
    ]


def test_a_limited_set_keeps_its_first_conversations_and_the_whole_corpus(tmp_path: Path) -> None:
    second = {"id": "c2", "turns": [{"question": "Where is Rome?", "gold": ["p2"]}]}
    read = read_conversation_set(_folder(tmp_path, GOOD, second))
    assert [c.id for c in read.limited(1).conversations] == ["c1"]
    assert read.limited(1).passages == read.passages and read.limited(0) is read


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"turns": GOOD["turns"]}, r":2: missing field 'id'"),
        ({"id": "x", "turns": []}, r":2: `turns` must be a non-empty list"),
        ({"id": "x", "turns": [{"gold": ["p1"]}]}, r":2: turn 1: `question` must be a non-empty string"),
        (
            {
                "id": "x",
                "turns": [{"question": "Where is it?", "standalone": "Where is Etna?", "gold": ["p1"]}],
            },
            r":2: turn 1: `standalone` differs from `question`",
        ),
        ({"id": "x", "turns": [{"question": "q?"}]}, r":2: turn 1: an answerable turn needs gold passages"),
        (
            {"id": "x", "turns": [{"question": "q?", "gold": ["p1"], "answerable": False}]},
            r":2: turn 1: an unanswerable turn has no gold passages",
        ),
        (
            {"id": "x", "turns": [{"question": "q?", "gold": ["p7"]}]},
            r":2: turn 1: gold passages not in the corpus",
        ),
        (
            {"id": "x", "turns": [{"question": "q?", "answerable": False, "held_out": ["p2"]}]},
            r":2: turn 1: held-out passages are in the corpus",
        ),
        ({"id": "x", "turns": [{"question": "q?", "answerable": "no"}]}, r":2: turn 1: `answerable` must be"),
        (
            {"id": "x", "turns": [{"question": "q?", "answerable": False, "unanswerable_kind": "far"}]},
            r":2: turn 1: `unanswerable_kind` is near-miss or off-topic, on unanswerable turns only",
        ),
        (
            {"id": "x", "turns": [{"question": "q?", "gold": ["p1"], "unanswerable_kind": "off-topic"}]},
            r":2: turn 1: `unanswerable_kind` is near-miss or off-topic",
        ),
        ({"id": "c1", "turns": GOOD["turns"]}, r":2: conversation id 'c1' used twice"),
        ({"id": "x", "turns": ["q?"]}, r":2: turn 1: expected a JSON object"),
        ("[1, 2]", r":2: expected a JSON object"),
    ],
)
def test_a_bad_conversation_is_named_by_file_line_and_turn(tmp_path: Path, bad: Any, message: str) -> None:
    with pytest.raises(DatasetError, match=r"conversations\.jsonl" + message):
        read_conversation_set(_folder(tmp_path, GOOD, bad))


def test_a_folder_without_conversations_says_so(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(json.dumps(CORPUS[0]) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"conversations\.jsonl: cannot read"):
        read_conversation_set(tmp_path)
