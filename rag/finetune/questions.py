"""The questions a training set is made of: written by the configured model for sampled chunks, or
read from the user's own file of questions with answers.

A question a model wrote is kept only when it can teach grounded answering: a real question, an
answer short enough to score, and an answer whose words stand in the chunk it was written from
(an answer the chunk does not hold would teach the model to invent). Small models fail these
checks often; every rejection is counted by reason, so a user sees what their model produced.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rag.common.chat import ChatModel, Message, ModelError
from rag.common.cjk import has_han
from rag.evaluate.dataset import DatasetError, numbered_records
from rag.retrieve.keyword import content_terms

#: Characters of a chunk shown to the question writer: enough for a fact, short for a small model.
PASSAGE_CHARS = 1500
#: Longest kept answer, in content words (or Han characters / 2): short answers can be scored.
MAX_ANSWER_TERMS = 8
#: Share of the answer's content words that must stand in its chunk.
MIN_ANSWER_SUPPORT = 0.75
#: a question and a short answer; a model that rambles past it is cut off, not waited for
_QUESTION_TOKENS = 80

QUESTION_SYSTEM = """\
You write one quiz question about a passage. Ask about one fact the passage states. Write the \
question in the language of the passage. Reply with exactly two lines and nothing else:
Question: <the question>
Answer: <the answer: a few words copied from the passage>"""

#: a reply's labelled lines; small models also write "The answer is: …"
_LINE = re.compile(
    r"^\s*(?:\*\*)?(question|answer|the answer is|问题|答案)(?:\*\*)?\s*[:：]\s*(?:\*\*)?\s*(.+?)\s*$",
    re.I | re.M,
)
#: what makes a line a question: its mark, an English question word first, or a Chinese one
_ASKS = re.compile(r"[?？]$|^(who|what|when|where|which|how|why)\b|[谁什么哪几多]", re.I)
ANSWER_SYSTEM = """\
Answer the question from the passage. Reply with the answer only: a few words copied from the \
passage."""


class QuestionsError(ValueError):
    """The questions file cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Seed:
    """A question with its answers; `chunk_id` is the chunk it was written from (None for a
    question of the user's own, whose gold chunks retrieval finds)."""

    question: str
    answers: list[str]
    chunk_id: str | None = None
    document_id: str | None = None
    text: str = ""
    origin: str = "generated"


@dataclass(slots=True)
class Written:
    """The seeds written so far and, per reason, the replies that were dropped."""

    seeds: list[Seed] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


#: one worked example as an earlier turn: small models copy a shown form far more reliably than
#: they follow a described one (a generic fact, unrelated to any knowledge base)
_EXAMPLE: list[Message] = [
    {
        "role": "user",
        "content": "Passage:\nThe Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    },
    {"role": "assistant", "content": "Question: When was the Eiffel Tower completed?\nAnswer: 1889"},
]


def question_messages(passage: str) -> list[Message]:
    return [
        {"role": "system", "content": QUESTION_SYSTEM},
        *_EXAMPLE,
        {"role": "user", "content": f"Passage:\n{passage[:PASSAGE_CHARS].strip()}"},
    ]


def parse_reply(reply: str) -> tuple[str, str] | None:
    """The question and answer of a reply in the two-line form (English or Chinese labels)."""
    found: dict[str, str] = {}
    for label, value in _LINE.findall(reply):
        kind = "question" if label.lower() in ("question", "问题") else "answer"
        if not value.strip():
            continue
        found.setdefault(kind, value.strip().strip('"“”'))
    if "question" not in found:
        return None
    return found["question"], found.get("answer", "").rstrip("。.")


def _terms(text: str) -> set[str]:
    return set(content_terms(text))


def judge(question: str, answer: str, passage: str) -> str | None:
    """Why a written question cannot be trained on, or None when it can."""
    if len(question) < 8 or not re.search(
        r"[?？]$|^(who|what|when|where|which|how|why)\b|[谁什么哪几多]", question, re.I
    ):
        return "not a question"
    answer_terms = _terms(answer)
    size = len(answer_terms) if not has_han(answer) else len(answer) / 2
    if not answer_terms or size > MAX_ANSWER_TERMS:
        return "answer empty or too long"
    if answer.lower() in question.lower():
        return "answer given away by the question"
    held = len(answer_terms & _terms(passage)) / len(answer_terms)
    if held < MIN_ANSWER_SUPPORT:
        return "answer not in the passage"
    return None


def write_questions(
    chat: ChatModel,
    chunks: Iterable[tuple[str, str, str]],
    wanted: int,
    *,
    concurrency: int = 4,
    progress: Callable[[int], None] | None = None,
) -> Written:
    """Ask the model for one question per chunk ((id, document id, text)) until `wanted` pass
    `judge`; requests run `concurrency` at a time (a model server batches them; the in-process
    model takes them one by one)."""
    written = Written()
    chunks = list(chunks)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="finetune-q") as pool:
        for start in range(0, len(chunks), max(1, concurrency)):
            batch = chunks[start : start + max(1, concurrency)]
            replies = pool.map(lambda chunk: _ask(chat, chunk[2]), batch)
            for (chunk_id, document_id, text), reply in zip(batch, replies, strict=True):
                if isinstance(reply, str):
                    written.rejected[reply] += 1
                    continue
                question, answer = reply
                reason = judge(question, answer, text)
                if reason:
                    written.rejected[reason] += 1
                    continue
                written.seeds.append(Seed(question, [answer], chunk_id, document_id, text))
                if progress:
                    progress(len(written.seeds))
            if len(written.seeds) >= wanted:
                break
    written.seeds = written.seeds[:wanted]
    return written


def _ask(chat: ChatModel, passage: str) -> tuple[str, str] | str:
    """A question and its answer for the passage, or why there is none. A reply with a question
    but no answer line (frequent with small models) gets a second call that answers it."""
    try:
        reply = chat.complete(question_messages(passage), max_tokens=_QUESTION_TOKENS, temperature=0.0)
        parsed = parse_reply(reply)
        if parsed is None:
            return "not in the two-line form"
        question, answer = parsed
        if not question.endswith(("?", "？")):
            question += "？" if has_han(question) else "?"
        if not answer:
            messages: list[Message] = [
                {"role": "system", "content": ANSWER_SYSTEM},
                {
                    "role": "user",
                    "content": f"Passage:\n{passage[:PASSAGE_CHARS].strip()}\n\nQuestion: {question}",
                },
            ]
            answer = chat.complete(messages, max_tokens=_QUESTION_TOKENS, temperature=0.0).strip()
            answer = answer.splitlines()[0].strip().rstrip("。.") if answer else ""
    except ModelError:
        return "model failed"
    return question, answer


def read_questions(path: Path) -> Iterator[Seed]:
    """The user's questions: JSONL with `question` and `answer` (or `answers`, a list)."""
    try:
        records = numbered_records(path)
    except DatasetError as exc:
        raise QuestionsError(str(exc)) from None
    for number, record in records:
        question = record.get("question")
        answers = record.get("answers", [record["answer"]] if "answer" in record else None)
        if not isinstance(question, str) or not question.strip():
            raise QuestionsError(f"{path}:{number}: `question` must be a non-empty string")
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a for a in answers):
            raise QuestionsError(f"{path}:{number}: give `answer` (a string) or `answers` (strings)")
        yield Seed(question.strip(), [a.strip() for a in answers], origin="file")
