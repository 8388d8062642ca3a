"""Multi-turn evaluation sets: conversations whose follow-ups refer back, and questions no document
answers.

On disk a conversation set is a folder with the project's `corpus.jsonl` (see `dataset.py`) and a
`conversations.jsonl` beside it, one conversation per line:

    {"id": "hotpotqa-5ab3c131554299233954ff9c", "shape": "pronoun", "turns": [
      {"question": "Who is Grace Krilanovich?", "standalone": "Who is Grace Krilanovich?",
       "gold": {"Grace Krilanovich": 1}, "answers": []},
      {"question": "Her first novel was published by … based where?",
       "standalone": "Grace Krilanovich's first novel was published by … based where?",
       "gold": {"Grace Krilanovich": 1, "Two Dollar Radio": 1}, "answers": ["Columbus, Ohio"]}]}

- `question`: what the user types in that turn; a follow-up may lean on earlier turns ("her").
- `standalone`: the same question made self-contained, what retrieval needs to find its passages;
  a turn that already is may leave it out, and the first turn's must equal its question (nothing
  came before it to lean on).
- `gold`: the passages that answer it, a list of ids or `{id: grade}`, as in `questions.jsonl`.
- `answers`: reference answers; may be empty (retrieval and citations are still judged).
- `answerable`: false for a question that no passage of this corpus answers; its `gold` is empty,
  and `held_out` may list the passages that answered it in the set it came from, which this
  corpus leaves out on purpose (the reader checks they are absent).
- `unanswerable_kind`: optional, on unanswerable turns: `near-miss` when passages on its topic
  stay (HotpotQA's distractors, picked to resemble the question), `off-topic` when the corpus
  says nothing about its topic; the two test abstention apart, the first being much harder.
- `shape`: optional, how the conversation was made, for figures broken down by it.

A `questions.jsonl` may sit beside them: then the folder is also a project set that `rag eval`
reads as it reads any other (`write_conversation_set` puts the answerable turns' standalone forms
there, so the standalone figures every follow-up is compared with come from one command).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.evaluate.dataset import (
    DatasetError,
    EvalQuestion,
    EvalSet,
    Passage,
    numbered_records,
    read_gold,
    read_passages,
    write_eval_set,
    write_jsonl,
)

CONVERSATIONS = "conversations.jsonl"
#: kinds of unanswerable turns: passages near its topic remain, or none on its topic does
NEAR_MISS, OFF_TOPIC = "near-miss", "off-topic"
UNANSWERABLE_KINDS = (NEAR_MISS, OFF_TOPIC)


@dataclass(frozen=True, slots=True)
class EvalTurn:
    question: str
    #: the question made self-contained; equal to `question` when it already is
    standalone: str
    #: gold passage id → grade; empty for an unanswerable turn
    gold: dict[str, int]
    answers: list[str] = field(default_factory=list)
    answerable: bool = True
    #: the passages that answered an unanswerable turn in its source set, absent from this corpus
    held_out: list[str] = field(default_factory=list)
    #: NEAR_MISS or OFF_TOPIC on an unanswerable turn whose set says which; empty otherwise
    unanswerable_kind: str = ""

    @property
    def follow_up(self) -> bool:
        """Whether the question leans on earlier turns (its standalone form differs)."""
        return self.question != self.standalone


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    turns: list[EvalTurn]
    shape: str = ""

    def turn_id(self, index: int) -> str:
        """The id of the turn at `index` (from 0): `<conversation>/<turn from 1>`."""
        return f"{self.id}/{index + 1}"


@dataclass(slots=True)
class ConversationSet:
    name: str
    passages: list[Passage]
    conversations: list[Conversation]

    def standalone_set(self) -> EvalSet:
        """The answerable turns' standalone forms as a plain question set: what retrieval scores
        when nothing needs resolving, the baseline each follow-up is held against."""
        questions = [
            EvalQuestion(conversation.turn_id(index), turn.standalone, turn.gold, turn.answers)
            for conversation in self.conversations
            for index, turn in enumerate(conversation.turns)
            if turn.answerable
        ]
        return EvalSet(self.name, self.passages, questions)

    def limited(self, count: int) -> ConversationSet:
        """The first `count` conversations (0: all) over the whole corpus: a shorter run asks
        fewer questions of the same KB."""
        return dataclasses.replace(self, conversations=self.conversations[:count]) if count else self

    @property
    def turns(self) -> list[EvalTurn]:
        return [turn for conversation in self.conversations for turn in conversation.turns]


def read_conversation_set(folder: Path) -> ConversationSet:
    """`corpus.jsonl` and `conversations.jsonl` of `folder`, checked against each other: every error
    names the file, the line and what is wrong."""
    passages = read_passages(folder / "corpus.jsonl")
    known = {passage.id for passage in passages}
    path = folder / CONVERSATIONS
    conversations: list[Conversation] = []
    seen: set[str] = set()
    for number, record in numbered_records(path):
        where = f"{path}:{number}"
        conversation = _conversation(record, where, known)
        if conversation.id in seen:
            raise DatasetError(f"{where}: conversation id {conversation.id!r} used twice")
        seen.add(conversation.id)
        conversations.append(conversation)
    if not passages or not conversations:
        raise DatasetError(f"{folder}: no passages or no conversations")
    return ConversationSet(folder.name, passages, conversations)


def write_conversation_set(conversation_set: ConversationSet, folder: Path) -> None:
    """`corpus.jsonl`, `conversations.jsonl`, and `questions.jsonl` with the standalone forms."""
    write_eval_set(conversation_set.standalone_set(), folder)
    write_jsonl(folder / CONVERSATIONS, (_record(c) for c in conversation_set.conversations))


def _record(conversation: Conversation) -> dict[str, Any]:
    turns = []
    for turn in conversation.turns:
        record: dict[str, Any] = {
            "question": turn.question,
            "standalone": turn.standalone,
            "gold": turn.gold,
            "answers": turn.answers,
            "answerable": turn.answerable,
        }
        if turn.held_out:
            record["held_out"] = turn.held_out
        if turn.unanswerable_kind:
            record["unanswerable_kind"] = turn.unanswerable_kind
        turns.append(record)
    shape = {"shape": conversation.shape} if conversation.shape else {}
    return {"id": conversation.id, **shape, "turns": turns}


def _conversation(record: dict[str, Any], where: str, known: set[str]) -> Conversation:
    if not isinstance(record.get("id"), str | int) or str(record["id"]) == "":
        raise DatasetError(f"{where}: missing field 'id'")
    turns = record.get("turns")
    if not isinstance(turns, list) or not turns:
        raise DatasetError(f"{where}: `turns` must be a non-empty list")
    read = [_turn(turn, f"{where}: turn {n}", known) for n, turn in enumerate(turns, start=1)]
    if read[0].follow_up:
        raise DatasetError(f"{where}: turn 1: `standalone` differs from `question`, with nothing before it")
    return Conversation(str(record["id"]), read, str(record.get("shape", "")))


def _turn(record: Any, where: str, known: set[str]) -> EvalTurn:
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: `question` must be a non-empty string")
    standalone = record.get("standalone", question)
    if not isinstance(standalone, str) or not standalone.strip():
        raise DatasetError(f"{where}: `standalone` must be a non-empty string")
    answerable = record.get("answerable", True)
    if not isinstance(answerable, bool):
        raise DatasetError(f"{where}: `answerable` must be true or false")
    gold = read_gold(record.get("gold", []), where)
    if answerable and not gold:
        raise DatasetError(f"{where}: an answerable turn needs gold passages")
    if not answerable and gold:
        raise DatasetError(f"{where}: an unanswerable turn has no gold passages (list them in `held_out`)")
    if missing := [pid for pid in gold if pid not in known]:
        raise DatasetError(f"{where}: gold passages not in the corpus: {missing[:3]}")
    held_out = record.get("held_out", [])
    if not isinstance(held_out, list) or (held_out and answerable):
        raise DatasetError(f"{where}: `held_out` is a list, on unanswerable turns only")
    if present := [str(pid) for pid in held_out if str(pid) in known]:
        raise DatasetError(
            f"{where}: held-out passages are in the corpus, so it is answerable: {present[:3]}"
        )
    answers = record.get("answers", [])
    if not isinstance(answers, list):
        raise DatasetError(f"{where}: `answers` must be a list")
    kind = record.get("unanswerable_kind", "")
    if kind and (answerable or kind not in UNANSWERABLE_KINDS):
        raise DatasetError(
            f"{where}: `unanswerable_kind` is {' or '.join(UNANSWERABLE_KINDS)}, on unanswerable turns only"
        )
    return EvalTurn(
        question, standalone, gold, [str(a) for a in answers], answerable, [str(p) for p in held_out], kind
    )
