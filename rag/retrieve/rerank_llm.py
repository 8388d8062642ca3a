"""Optional second stage on the model server: the LLM grades each fused passage, and the grades reorder them.

A cross-encoder needs a local model folder; a deployment that already runs a capable chat model
(vLLM, llama.cpp, Ollama…) can rerank with it instead. Pointwise: each of the fused top-N passages is
graded alone (0–3, `rerank_prompts.py`), so the requests go out side by side and a reply that fails
or does not parse costs that one passage, which keeps its fused place. Where the server returns
`logprobs`, the score is the expected grade under the model's distribution over the grade digits,
a continuous score that separates passages a parsed digit would tie; otherwise it is the digit.

The reranker has its own deadline: a model server that is slow or down must not hold the answer, so
when the grades are not all in by then, the hits keep the fused order and the reranker is reported
as a degraded source, like a late retriever.
"""

from __future__ import annotations

import logging
import math
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from rag.common.chat import ChatModel, LogprobChatModel, ModelRequestError, TokenLogprobs
from rag.common.reasons import one_line
from rag.models import SourceFailure
from rag.retrieve.fuse import FusedHit
from rag.retrieve.rerank import RERANK
from rag.retrieve.rerank_prompts import GRADES, rerank_messages

log = logging.getLogger(__name__)

#: the name a degraded reranker has in `sources_failed`
SOURCE = "rerank"
#: a grade is one digit; a few more tokens let a chatty model write "Grade: 2" and still parse
MAX_REPLY_TOKENS = 4
#: alternatives asked per token: enough to hold every grade digit beside the model's other guesses
TOP_LOGPROBS = 10

#: the scale written out ("0-3", "0 to 3") or as a denominator ("2/3", "2 out of 3"): not a grade
_SCALE = re.compile(r"\b0\s*(?:-|–|to)\s*3\b|(?:/|\bout of)\s*3\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_grade(reply: str) -> float | None:
    """The first number of the reply when it is a grade on the 0–3 scale, else None (the passage
    then keeps its fused place): "2", " **3**", "Grade: 1", "2/3" and "1.5" parse; "7", "" do not."""
    found = _NUMBER.search(_SCALE.sub(" ", reply))
    if found is None:
        return None
    grade = float(found.group())
    return grade if GRADES[0] <= grade <= GRADES[-1] else None


def expected_grade(tokens: list[TokenLogprobs], reply: str) -> float | None:
    """Σ grade · p(grade) over the grade digits, renormalised, at the token where the reply wrote its
    grade; None when the reply has no grade or the server sent no log-probabilities for it.

    The token is the first whose most likely alternative (the greedy choice) is the digit the reply
    parsed to, so leading spaces or "Grade:" are skipped and a "10" is never read as a 1."""
    parsed = parse_grade(reply)
    if parsed is None or not parsed.is_integer():
        return None
    digits = {str(grade): grade for grade in GRADES}
    for alternatives in tokens:
        if not alternatives:
            continue
        chosen = max(alternatives, key=lambda token: alternatives[token]).strip()
        if chosen != str(int(parsed)):
            continue
        mass = {digits[t.strip()]: math.exp(lp) for t, lp in alternatives.items() if t.strip() in digits}
        total = math.fsum(mass.values())
        return math.fsum(g * p for g, p in mass.items()) / total if total > 0 else None
    return None


class LLMReranker:
    """Reorders the fused top `candidates` by the model's relevance grades (kept in `scores["rerank"]`).

    `concurrency` bounds the requests in flight (a model server batches them; more than its batch
    only queues), `deadline_s` bounds the whole reranking per question. Safe to share between
    threads: each call has its own pool.
    """

    def __init__(
        self,
        chat: ChatModel,
        *,
        candidates: int = 20,
        deadline_s: float = 10.0,
        concurrency: int = 4,
        logprobs: bool = True,
    ) -> None:
        if candidates < 1 or concurrency < 1 or deadline_s <= 0:
            raise ValueError("the LLM reranker needs candidates >= 1, concurrency >= 1 and deadline_s > 0")
        self.chat = chat
        self.candidates = candidates
        self.deadline_s = deadline_s
        self.concurrency = concurrency
        #: ask for log-probabilities; turned off for good once the server refuses them
        self.logprobs = logprobs and isinstance(chat, LogprobChatModel)

    def rerank(
        self, question: str, hits: list[FusedHit], top_k: int, failed: list[SourceFailure] | None = None
    ) -> list[FusedHit]:
        """The `top_k` best of `hits`, best first: the first `candidates` ordered by grade (ties and
        ungraded passages by fused rank), the rest after them in fused order. A reranking that runs
        late or whose requests fail is appended to `failed` (when given) as the source "rerank"."""
        head, tail = hits[: self.candidates], hits[self.candidates :]
        if not head:
            return []
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(head)), thread_name_prefix="rerank")
        futures: list[Future[float | None]] = [
            pool.submit(self._grade, question, item.hit.text) for item in head
        ]
        done, pending = wait(futures, timeout=self.deadline_s)
        # a request still running keeps its thread until the client's own timeout; nobody waits for it
        pool.shutdown(wait=False, cancel_futures=True)
        if pending:
            log.warning(
                "event=rerank_late candidates=%d graded=%d deadline_s=%g",
                len(head),
                len(done),
                self.deadline_s,
            )
            self._report(failed, f"timed out after {self.deadline_s:g} s: fused order kept")
            return hits[:top_k]
        grades: list[float | None] = []
        errors: list[BaseException] = []
        for future in futures:
            error = future.exception()
            if error is not None:
                errors.append(error)
            grades.append(None if error is not None else future.result())
        unparsed = sum(grade is None for grade in grades) - len(errors)
        log.info(
            "event=rerank candidates=%d graded=%d unparsed=%d errors=%d ms=%.1f",
            len(head),
            len(head) - unparsed - len(errors),
            unparsed,
            len(errors),
            (time.perf_counter() - started) * 1000,
        )
        if errors:
            reason = one_line(errors[0], typed=True)
            self._report(failed, f"{len(errors)} of {len(head)} passages not graded: {reason}")
        return (_ordered(head, grades) + tail)[:top_k]

    def _grade(self, question: str, passage: str) -> float | None:
        """One passage's score on the 0–3 scale, or None when the reply holds no grade."""
        messages = rerank_messages(question, passage)
        if self.logprobs:
            assert isinstance(self.chat, LogprobChatModel)
            try:
                reply, tokens = self.chat.complete_logprobs(
                    messages, max_tokens=MAX_REPLY_TOKENS, top_logprobs=TOP_LOGPROBS
                )
            except ModelRequestError:
                reply = self.chat.complete(messages, max_tokens=MAX_REPLY_TOKENS)  # raises if not logprobs
                self.logprobs = False  # the plain request passed: the server refuses logprobs
                log.warning("event=rerank_no_logprobs model=%s", self.chat.description)
                return parse_grade(reply)
            expected = expected_grade(tokens, reply)
            return expected if expected is not None else parse_grade(reply)
        return parse_grade(self.chat.complete(messages, max_tokens=MAX_REPLY_TOKENS))

    @staticmethod
    def _report(failed: list[SourceFailure] | None, reason: str) -> None:
        if failed is not None:
            failed.append(SourceFailure(SOURCE, reason))


def _ordered(head: list[FusedHit], grades: list[float | None]) -> list[FusedHit]:
    """Graded passages sorted by grade (ties by fused rank) into the places graded passages held;
    an ungraded passage stays where fusion put it. Each grade goes to `scores["rerank"]`."""
    scored = {i: grade for i, grade in enumerate(grades) if grade is not None}
    for i, grade in scored.items():
        head[i].scores[RERANK] = grade
    by_grade = sorted(scored, key=lambda i: (-scored[i], i))
    order = list(range(len(head)))
    for place, i in zip(scored, by_grade, strict=True):
        order[place] = i
    return [head[i] for i in order]
