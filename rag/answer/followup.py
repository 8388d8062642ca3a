"""Follow-up questions become standalone ones, for retrieval, and only when they need to.

"And when did she join?" retrieves nothing useful on its own: its only content word is "join".
Retrieval needs "When did Lena Park join Northwind Robotics?". Asking the model to rewrite every
question costs a model call before the first token, though, and most questions (the first of
every conversation, and most later ones) stand alone. So a cheap check runs first: a follow-up
refers back with a pronoun or a demonstrative ("she", "that", "它", "这个"), is elliptic ("and in
2021?", "那上海呢？"), or is too short to name what it is about. Only then does the model rewrite
it from the last turns.

The rewrite is for retrieval only: the answer prompt keeps the user's own words and the history.
A rewrite that fails, runs past its deadline, drifts (shares no content word with the question
or the history: the model answered instead of rewriting, or made something up) or resolves
nothing (repeats the question) is not used: retrieval searches for the question followed by the
user's previous question, words the user wrote, so a broken model server costs the follow-up a
precise query, never the answer. (The question alone, the obvious fallback, retrieves nothing
useful for "And when did she join?"; measured in docs/evaluation.md.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from rag.answer.history import recent_turns
from rag.common.chat import ChatModel, Message
from rag.common.cjk import has_han
from rag.common.reasons import one_line
from rag.models import Turn
from rag.retrieve.keyword import content_terms, query_terms

log = logging.getLogger(__name__)

#: Words that refer back to something said before (English), checked as whole words.
_BACK_REFERENCES = frozenset(
    {"he", "she", "him", "her", "his", "hers", "it", "its", "they", "them", "their", "theirs"}
    | {"this", "that", "these", "those", "former", "latter"}
)
#: Openings of an elliptic follow-up ("and in 2021?", "what about Berlin?", "how about the price").
_ELLIPTIC_START = re.compile(r"^\s*(and|also|but|or|what about|how about|why|why not|so)\b", re.IGNORECASE)
#: Chinese pronouns and demonstratives that refer back; 其/该/此 as a determiner ("该公司").
_CJK_BACK_REFERENCES = re.compile(r"他们|她们|它们|他|她|它|这个|那个|这些|那些|这里|那里|这家|那家|其|该|此")
#: Chinese ellipsis: a question ending in 呢 ("那上海呢？") or opening with 那/还有/另外.
_CJK_ELLIPTIC = re.compile(r"(呢\s*[？?]?\s*$)|(^\s*(那么|那|还有|另外|以及))")
#: A question with at most this many content words cannot name what it is about on its own.
SHORT_TERMS = 2
#: Tokens the model may write for the rewrite: one question.
MAX_REWRITE_TOKENS = 80
#: A rewrite longer than this many characters is an answer or a ramble, not a question.
MAX_REWRITE_CHARS = 500
#: Characters of each earlier turn the rewrite reads: the referent is named early in a turn, and
#: four long answers would make the rewrite slower than the answer.
MAX_TURN_CHARS = 600
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LABEL = re.compile(r"^\s*(standalone question|rewritten question|question|独立问题|问题)\s*[:：]\s*", re.I)

REWRITE_SYSTEM = """\
Rewrite the user's last question so that it can be understood without the conversation: replace \
pronouns and references such as "she", "it" or "that" with the names they stand for, and fill in \
what an elliptic question leaves out. Do not answer it. Keep its language. Reply with the \
rewritten question only.

Example:
Conversation:
User: Who founded Acme Tools?
Assistant: Jane Roe founded Acme Tools in 1990.
Last question: Where was she born?
Rewritten question: Where was Jane Roe born?"""


@dataclass(frozen=True, slots=True)
class Standalone:
    """The question retrieval searches for, and how it came about: "asked" (the question stood
    alone, or there was no history), "rewritten", or "fallback" with the reason the rewrite was
    not used (the question then goes with the previous question, `with_previous_question`)."""

    question: str
    how: str
    reason: str | None = None


def refers_back(question: str) -> bool:
    """The cheap check: whether the question looks like it depends on earlier turns."""
    if has_han(question):
        return bool(_CJK_BACK_REFERENCES.search(question) or _CJK_ELLIPTIC.search(question)) or (
            len(query_terms(question)) <= SHORT_TERMS
        )
    words = [word.lower() for word in _WORD.findall(question)]
    if any(word in _BACK_REFERENCES for word in words):
        return True
    return bool(_ELLIPTIC_START.search(question)) or len(query_terms(question)) <= SHORT_TERMS


def rewrite_messages(question: str, history: Sequence[Turn]) -> list[Message]:
    """The rules, then the conversation as one quoted block (small models follow a rewrite
    instruction better when the turns are data than when they are turns to continue)."""
    lines = [
        f"{'User' if turn.role == 'user' else 'Assistant'}: {turn.content.strip()[:MAX_TURN_CHARS]}"
        for turn in history
    ]
    conversation = "\n".join(lines)
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {
            "role": "user",
            "content": f"Conversation:\n{conversation}\n\nLast question: {question}\n\nRewritten question:",
        },
    ]


def clean_rewrite(reply: str) -> str:
    """The rewrite's first non-empty line, without a label ("Question:") or quotes around it."""
    line = next((part.strip() for part in reply.strip().splitlines() if part.strip()), "")
    return _LABEL.sub("", line).strip().strip("\"'“”「」").strip()


def drifted(rewrite: str, question: str, history: Sequence[Turn]) -> bool:
    """True when the rewrite shares no content word with the question or the history: whatever it
    is, it is not this question made standalone."""
    said = set(content_terms(question))
    for turn in history:
        said.update(content_terms(turn.content))
    return not set(content_terms(rewrite)) & said


def resolved(rewrite: str, question: str, history: Sequence[Turn]) -> bool:
    """Whether the rewrite names something from the conversation that the question did not: a
    rewrite that only repeats the question resolved no reference."""
    said = {term for turn in history for term in query_terms(turn.content)}
    return bool((set(query_terms(rewrite)) - set(query_terms(question))) & said)


def with_previous_question(question: str, history: Sequence[Turn]) -> str:
    """The question followed by the user's previous question: what retrieval searches for when
    no usable rewrite came. Every word is the user's own, and the previous question usually names
    what "she" or "it" stands for ("When did she join? Who leads the Shenzhen office?"), which
    the follow-up alone never does."""
    previous = next((turn.content.strip() for turn in reversed(history) if turn.role == "user"), "")
    return f"{question} {previous[:MAX_TURN_CHARS]}".strip() if previous else question


def keep_asked_words(rewrite: str, question: str) -> str:
    """The rewrite, preceded by the question when it dropped one of the question's own content
    words: a small model often answers with the referent as a statement ("Maria Keller is the CEO
    of Northwind Robotics." for "And when was it founded?"), which names what the question is
    about but no longer what it asks."""
    asked = set(query_terms(question)) - _BACK_REFERENCES
    if asked <= set(query_terms(rewrite)):
        return rewrite
    return f"{question} {rewrite}"


class QuestionRewriter:
    """Makes follow-ups standalone with one model call under a deadline; thread-safe."""

    def __init__(
        self, chat: ChatModel, *, deadline_s: float = 10.0, history_turns: int = 4, workers: int = 4
    ) -> None:
        self.chat = chat
        self.deadline_s = deadline_s
        #: the most recent turns the rewrite reads: the referent is almost always in the last answer
        self.history_turns = history_turns
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rewrite")

    def standalone(self, question: str, history: Sequence[Turn]) -> Standalone:
        """The question to retrieve for (never raises: every failure falls back to the question
        with the previous one)."""
        if not history or not refers_back(question):
            return Standalone(question, "asked")
        recent = recent_turns(history, self.history_turns)
        future = self._pool.submit(
            self.chat.complete, rewrite_messages(question, recent), max_tokens=MAX_REWRITE_TOKENS
        )
        try:
            reply = future.result(timeout=self.deadline_s)
        except FutureTimeout:
            future.cancel()
            return self._fallback(question, recent, f"the rewrite took longer than {self.deadline_s:g} s")
        except Exception as exc:  # a model failure costs the rewrite, never the answer
            return self._fallback(question, recent, one_line(exc, typed=True))
        rewrite = clean_rewrite(reply)
        if not rewrite or len(rewrite) > MAX_REWRITE_CHARS:
            return self._fallback(question, recent, "the model's rewrite was empty or not a question")
        if has_han(question) and not has_han(rewrite):
            return self._fallback(question, recent, "the model's rewrite is not in the question's language")
        if drifted(rewrite, question, recent):
            return self._fallback(
                question, recent, "the model's rewrite shares no word with the conversation"
            )
        if not resolved(rewrite, question, recent):
            return self._fallback(question, recent, "the model's rewrite names nothing from the conversation")
        return Standalone(keep_asked_words(rewrite, question), "rewritten")

    @staticmethod
    def _fallback(question: str, history: Sequence[Turn], reason: str) -> Standalone:
        log.info("event=rewrite_fallback reason=%s", reason)
        return Standalone(with_previous_question(question, history), "fallback", reason)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
