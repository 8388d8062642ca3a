"""Question → answer: fused retrieval, optional reranking, a prompt of numbered sources, the model.

This module wires the boxes and nothing else: each step lives in its own module and is timed here,
so an answer says where its time went. A retriever that fails costs its share of the context and
is named in `sources_failed`; a model that fails fails the answer (there is nothing to degrade to).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rag.answer.abstain import model_abstained, not_in_kb, unconvincing
from rag.answer.attribute import ground
from rag.answer.context import Budgets, build_context
from rag.answer.followup import QuestionRewriter, Standalone
from rag.answer.history import within_budget
from rag.answer.prompts import answer_messages, has_words, wordless_retry
from rag.common.chat import ChatModel
from rag.common.markup import LinkGuard, urls_in
from rag.config import Settings
from rag.embed import Embedder, TokenLengths, open_embedder
from rag.generate.factory import open_chat_model
from rag.generate.lazy import LazyChatModel
from rag.models import Abstention, Answer, Turn
from rag.retrieve.calibrate import LearnedWeightsCache
from rag.retrieve.factory import open_retrievers
from rag.retrieve.fused import FusedRetriever, Retrieval
from rag.retrieve.rerank import CrossEncoderReranker, Reranker, RerankerError
from rag.retrieve.rerank_llm import LLMReranker
from rag.stores.factory import Stores
from rag.stores.sql.fulltext import search_text

#: Answer timings of each retriever are named retrieve_<name> (retrieve_vector, …).
RETRIEVER_TIMING = "retrieve_"


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


@dataclass(slots=True)
class AnswerPipeline:
    """Answers questions about one store set; safe to share between threads and requests."""

    retriever: FusedRetriever
    chat: ChatModel
    count_tokens: TokenLengths
    budgets: Budgets
    top_k: int
    max_tokens: int
    reranker: Reranker | None = None
    embedder: Embedder | None = None
    #: fused hits a reranker reads per question, when one is configured: it reorders, not searches
    rerank_candidates: int = 20
    #: makes follow-ups standalone for retrieval; None: every question is retrieved for as asked
    rewriter: QuestionRewriter | None = None
    #: tokens of earlier turns the answer prompt carries (`history.within_budget`)
    history_tokens: int = 600
    #: the KB's answer-absent dense levels (`calibrate.LearnedWeightsCache.absent_levels`)
    absent_levels: Callable[[str], Sequence[float]] | None = None
    #: abstain without a model call below this share of the answer-absent levels (0: never)
    abstain_below: float = 0.0
    #: share of a sentence's content words a source must hold to be attributed that sentence
    attribution_min: float = 0.5

    def using(self, retrievers: list[str]) -> AnswerPipeline:
        """The same pipeline over a subset of its retrievers."""
        return dataclasses.replace(self, retriever=self.retriever.only(retrievers))

    def warm_up(self) -> None:
        """Load the embedding model and jieba's dictionary now, so that the first question's
        retriever deadlines measure the search, not a model load."""
        if self.embedder is not None:
            self.embedder.embed_queries(["warm-up"])
        search_text("预热")

    def close(self) -> None:
        """Stop the rewriter's threads and close the model's client."""
        if self.rewriter is not None:
            self.rewriter.close()
        self.chat.close()

    def standalone(self, question: str, history: Sequence[Turn] = ()) -> Standalone:
        """The question retrieval should search for: a follow-up rewritten from the history when
        it refers back (`followup.py`), else the question itself."""
        if not history or self.rewriter is None:
            return Standalone(question, "asked")
        return self.rewriter.standalone(question, history)

    def no_evidence(self, found: Retrieval, kb: str) -> bool:
        """Whether the best dense match is below the KB's abstention level (`abstain.py`)."""
        if self.absent_levels is None or self.abstain_below <= 0:
            return False
        vector = found.results.get("vector") or []
        best = max((hit.score for hit in vector), default=None)
        return unconvincing(best, self.absent_levels(kb), self.abstain_below)

    def retrieve(
        self, question: str, kb: str, *, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> Retrieval:
        """The fused hits, reranked when a reranker is configured (its time in `timings_ms["rerank"]`,
        and included in `"total"`; a reranker that degraded is in `failed`), with the facts and SQL
        results."""
        started = time.perf_counter()
        top_k = top_k or self.top_k
        depth = max(top_k, self.rerank_candidates) if self.reranker else top_k
        found = self.retriever.retrieve(question, kb, depth, filters)
        if self.reranker is not None:
            reranked = time.perf_counter()
            found.hits = self.reranker.rerank(question, found.hits, top_k, found.failed)
            found.failed.sort(key=lambda failure: failure.source)
            found.timings_ms["rerank"] = _ms(reranked)
            found.timings_ms["total"] = _ms(started)
        return found

    def ask(
        self,
        question: str,
        kb: str,
        *,
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
        found: Retrieval | None = None,
        history: Sequence[Turn] = (),
        instructions: str = "",
    ) -> Answer:
        """The whole answer with its citations."""
        answer: Answer | None = None
        pieces = self.stream(
            question,
            kb,
            top_k=top_k,
            filters=filters,
            found=found,
            history=history,
            instructions=instructions,
        )
        for piece in pieces:
            if isinstance(piece, Answer):
                answer = piece
        assert answer is not None  # stream always ends with the Answer
        return answer

    def stream(
        self,
        question: str,
        kb: str,
        *,
        top_k: int | None = None,
        filters: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        found: Retrieval | None = None,
        history: Sequence[Turn] = (),
        instructions: str = "",
    ) -> Iterator[str | Answer]:
        """The answer's text in pieces as the model writes them, then the `Answer` with citations.

        `history` holds the conversation's earlier turns: a follow-up is retrieved for as a
        standalone question (`Answer.retrieval_question`) and answered with the turns that fit
        the history budget. `instructions` is the client's own system message, kept below the
        grounding rules. `max_tokens` caps the answer (default: the setting). Closing the
        iterator stops generation. `found`, a retrieval already made for this question (`rag
        eval` scores it first), is answered from instead of retrieving again."""
        started = time.perf_counter()
        asked, rewrite_ms = question, None
        if found is None:
            standalone = self.standalone(question, history)
            if standalone.how != "asked":
                rewrite_ms = _ms(started)
            asked = standalone.question
            found = self.retrieve(asked, kb, top_k=top_k, filters=filters)
        timings = {
            f"{RETRIEVER_TIMING}{name}": ms for name, ms in found.timings_ms.items() if name != "total"
        }
        if rewrite_ms is not None:
            timings["rewrite"] = rewrite_ms
        timings["retrieve"] = found.timings_ms["total"]
        sources, citations = build_context(
            found.hits, found.tables, found.facts, self.budgets, self.count_tokens
        )
        timings["prompt_ready"] = _ms(started)
        if not sources or (not found.tables and self.no_evidence(found, kb)):
            text = not_in_kb(question)
            yield text
            timings["total"] = _ms(started)
            yield Answer(
                question,
                kb,
                text,
                [],
                found.failed,
                timings,
                retrieval_question=asked,
                abstained=Abstention.NO_EVIDENCE,
            )
            return
        generating = time.perf_counter()
        pieces: list[str] = []
        # links and images: only a source's own URL is shown, nothing rendered fetches anything
        guard = LinkGuard(urls_in(source.text for source in sources))
        shown: list[str] = []
        turns = within_budget(history, self.history_tokens, self.count_tokens)
        messages = answer_messages(question, sources, turns, instructions)
        options = {"max_tokens": max_tokens or self.max_tokens, "temperature": temperature}
        held = ""  # nothing is shown before the answer has a word: a reply of markers is asked again
        for attempt in (messages, None):
            if attempt is None:  # the first reply was citation markers alone ("[1]"): ask once more
                attempt = wordless_retry(messages, "".join(pieces))
                held = ""
            replies = self.chat.stream(attempt, **options)
            try:
                for piece in replies:
                    if not pieces:
                        timings["first_token"] = _ms(generating)
                    pieces.append(piece)
                    if (safe := guard.feed(piece)) and (ready := _spoken(held + safe, shown)):
                        held = ""
                        yield ready
                    elif safe:
                        held += safe
                if (rest := guard.flush()) and (ready := _spoken(held + rest, shown)):
                    held = ""
                    yield ready
                else:
                    held += rest
            finally:
                close = getattr(replies, "close", None)
                if close is not None:
                    close()
            if shown:
                break
        if held:  # the second reply had no word either: it is shown as it is
            shown.append(held)
            yield held
        timings["generate"] = _ms(generating)
        text = "".join(shown).strip()
        abstained = Abstention.MODEL if model_abstained(text) else None
        # an answer that says the sources do not tell has no sentence to attribute
        unsupported = [] if abstained else ground(text, question, citations, self.attribution_min).unsupported
        timings["total"] = _ms(started)
        prompt_tokens = sum(self.count_tokens([message["content"] for message in messages]))
        yield Answer(
            question,
            kb,
            text,
            citations,
            found.failed,
            timings,
            prompt_tokens,
            completion_tokens=len(pieces),
            retrieval_question=asked,
            abstained=abstained,
            unsupported=unsupported,
        )


def _spoken(text: str, shown: list[str]) -> str:
    """`text` once the answer so far has a word (then it is shown, and added to `shown`), else ""."""
    if shown or has_words(text):
        shown.append(text)
        return text
    return ""


def open_pipeline(
    stores: Stores, settings: Settings, retrievers: list[str], chat: ChatModel | None = None
) -> AnswerPipeline:
    """The pipeline the settings describe over open stores; `chat` defaults to the configured model.

    Cheap: nothing loads until the first question (or `warm_up`); the chat model is opened when
    the first answer needs it, so retrieval works without one (`rag.generate.lazy`)."""
    chat = chat or LazyChatModel(lambda: open_chat_model(settings))
    embedder = open_embedder(stores.embedding, settings.embed_batch_size)
    chosen = open_retrievers(stores, embedder, retrievers, chat=chat)
    learned = LearnedWeightsCache(stores.sql) if settings.fusion_learn else None
    fused = FusedRetriever(
        chosen,
        settings.fusion_weights,
        settings.retriever_timeout_s,
        timeouts={"sql": settings.sql_deadline_s},
        method=settings.fusion,
        learned=learned,
    )
    return AnswerPipeline(
        retriever=fused,
        chat=chat,
        count_tokens=embedder.token_lengths,
        budgets=Budgets(settings.context_tokens, settings.table_tokens, settings.facts_tokens),
        top_k=settings.top_k,
        max_tokens=settings.answer_max_tokens,
        reranker=open_reranker(settings),
        embedder=embedder,
        rerank_candidates=settings.rerank_candidates,
        rewriter=QuestionRewriter(chat, deadline_s=settings.rewrite_deadline_s),
        history_tokens=settings.history_tokens,
        absent_levels=learned.absent_levels if learned is not None else None,
        abstain_below=settings.abstain_below,
        attribution_min=settings.attribution_min,
    )


def open_reranker(settings: Settings) -> Reranker | None:
    """The reranker `RAG_RERANKER` names (`auto`: the cross-encoder when `RAG_RERANKER_MODEL` names a
    folder, as before the setting existed), or None.

    The LLM reranker needs a model server and refuses the in-process model: grading 20 passages per
    question with a 135M model on the CPU costs seconds and its grades are noise, so a silent
    fallback would only make answers slower. Its client's timeout is cut to the reranker's deadline,
    so a request still running after the deadline ends soon after it."""
    kind = settings.resolved_reranker
    if kind == "none":
        return None
    if kind == "cross-encoder":
        if not settings.reranker_model:
            raise RerankerError("RAG_RERANKER=cross-encoder needs RAG_RERANKER_MODEL, a local model folder")
        return CrossEncoderReranker(settings.reranker_model)
    if not settings.llm_url:
        raise RerankerError(
            "RAG_RERANKER=llm grades passages on a model server, and RAG_LLM_URL is empty: the "
            "in-process model is too slow and too weak to rerank. Set RAG_LLM_URL (and RAG_LLM_MODEL), "
            "or RAG_RERANKER=none"
        )
    timeout = min(settings.llm_timeout_s, settings.rerank_deadline_s)
    return LLMReranker(
        open_chat_model(settings.model_copy(update={"llm_timeout_s": timeout})),
        candidates=settings.rerank_candidates,
        deadline_s=settings.rerank_deadline_s,
        concurrency=settings.rerank_concurrency,
    )
