"""Fusion weights each knowledge base learns from its own chunks: which retrievers to trust.

Equal weights let a broken list drag fusion down: an English embedding model on Chinese text, a
retriever returning noise, a graph built from nothing. Which list is broken depends on the KB, so
the KB is asked. A sample of its chunks each yields a pseudo-query (one sentence of the chunk,
stopwords dropped and half of the remaining words left out; the chunk is its answer), and each
retriever's own list is scored by the mean reciprocal rank of the answer.

Pseudo-queries are built from the chunks' own words, so they flatter keyword search: on
HotpotQA's passages keyword search finds 0.96 of them first, dense search 0.69, although on the
real questions the two are level (docs/evaluation.md). Weights fitted to such queries switch
dense search off and lose 3 nDCG points on real questions. So the pseudo-queries only decide what
they can: whether a retriever works on this KB at all. A retriever reaching at least half of the
best one's reciprocal rank keeps its full weight; one below a quarter of it (noise, a model that
cannot read the language) is switched off; in between, its weight falls linearly. Real questions
then get each working retriever at equal weight, and the query-time gates (`Evidence.confidence`)
do the rest.

No evaluation set's questions are used, and nothing is fitted per question: the weights are the
KB's, refreshed after each ingest that changes it (`rag ingest`, uploads, `rag eval`), and kept in
the relational store (`fusion_weights`), where `rag status` shows them.
"""

from __future__ import annotations

import logging
import math
import random
import re
import statistics
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.embed import Embedder
from rag.models import Hit
from rag.retrieve.factory import open_retrievers
from rag.retrieve.fused import FusedRetriever
from rag.retrieve.keyword import STOPWORDS
from rag.stores.factory import Stores
from rag.stores.sql import LearnedWeights, SqlStore
from rag.stores.sql.fulltext import search_text

log = logging.getLogger(__name__)

#: Chunks sampled for pseudo-queries: a few seconds of retrieval, and a standard error of the mean
#: reciprocal rank of about 0.03, enough to tell a helpful list from a harmful one.
QUERIES = 100
#: Longest pseudo-query, in words: about a question's length.
MAX_WORDS = 16
#: A KB smaller than this keeps equal weights: too few queries to learn anything from.
MIN_CHUNKS = 30
#: A retriever reaching this share of the best one's reciprocal rank on the pseudo-queries works
#: for the KB (full weight); below the second share it is switched off.
WORKS_FROM = 0.5
WORKS_BELOW = 0.25
#: The retrievers `refit` learns weights for. The SQL retriever is not among them: it asks a language
#: model per question and answers from tables, which no sentence of a chunk can test.
LEARNED = ("vector", "keyword", "graph")
UNLEARNED = frozenset({"sql"})
#: Hits of a list that a pseudo-query's answer is looked for in (reciprocal rank 0 below).
DEPTH = 10
#: Share of its chunks a KB must gain or lose before its weights are learned again.
REFIT_CHANGE = 0.1
#: The key of the report that holds the KB's answer-absent dense levels (sorted).
ABSENT_LEVELS = "absent_levels"
#: Seconds a learned weight is trusted in memory before the store is read again: another process
#: (an ingest beside the server) may have refitted it.
CACHE_S = 60.0

_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass(slots=True, frozen=True)
class PseudoQuery:
    text: str
    chunk_id: str
    document_id: str


def pseudo_queries(sql: SqlStore, kb: str, count: int = QUERIES) -> list[PseudoQuery]:
    """One pseudo-query per sampled chunk that has a sentence of at least four content words."""
    queries = []
    for chunk_id, document_id, text in sql.sample_chunks(kb, count):
        query = pseudo_query(chunk_id, text)
        if query is not None:
            queries.append(PseudoQuery(query, chunk_id, document_id))
    return queries


def pseudo_query(chunk_id: str, text: str) -> str | None:
    """Half of the content words (at least three) of one sentence of the chunk, in their order and
    spelling, both chosen by the chunk id, so a KB gets the same queries on every run."""
    words = _sentence(chunk_id, text)
    if not words:
        return None
    rng = random.Random(chunk_id)
    keep = sorted(rng.sample(range(len(words)), max(3, math.ceil(len(words) / 2))))
    return " ".join(words[i] for i in keep[:MAX_WORDS])


def _sentence(chunk_id: str, text: str) -> list[str] | None:
    """The content words of one sentence of the chunk (chosen by the chunk id, so the same on every
    run), in their order and spelling; None when no sentence has four."""
    sentences = [words for part in _SENTENCE_END.split(text) if len(words := _content_words(part)) >= 4]
    if not sentences:
        return None
    return sentences[random.Random(f"{chunk_id}/sentence").randrange(len(sentences))]


def _content_words(sentence: str) -> list[str]:
    segmented = search_text(sentence) or sentence
    return [word for word in _WORD.findall(segmented) if word.lower() not in STOPWORDS]


def learn_weights(
    lists: list[dict[str, list[Hit]]], answers: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each learned retriever's weight (see the module's docstring), and the mean reciprocal rank
    of its own list on the pseudo-queries. `lists[i]` holds each retriever's hits for
    pseudo-query i, `answers[i]` the chunk that answers it; a retriever with no list for a query
    (a graph with no entity to link) scores 0 on it."""
    names = sorted({name for found in lists for name in found if name not in UNLEARNED})
    if not names or not answers:
        return {}, {}
    quality = {
        name: statistics.fmean(
            _reciprocal_rank(found.get(name, []), answer)
            for found, answer in zip(lists, answers, strict=True)
        )
        for name in names
    }
    best = max(quality.values())
    if best <= 0:
        return {}, quality
    weights = {name: _weight(quality[name] / best) for name in names}
    return weights, {name: round(value, 4) for name, value in quality.items()}


def _weight(share: float) -> float:
    """Full weight from half of the best retriever's reciprocal rank, none below a quarter."""
    return round(min(1.0, max(0.0, (share - WORKS_BELOW) / (WORKS_FROM - WORKS_BELOW))), 4)


def _reciprocal_rank(hits: list[Hit], answer: str) -> float:
    for hit in hits[:DEPTH]:
        if hit.chunk_id == answer:
            return 1.0 / hit.rank
    return 0.0


def absent_level(vector_hits: list[Hit], document_id: str) -> float | None:
    """The best dense score a pseudo-query reaches outside its own document: what a question
    whose answer is absent from this KB scores (`answer.abstain`). None without a dense list."""
    return max((hit.score for hit in vector_hits if hit.document_id != document_id), default=None)


def calibrate(
    retriever: FusedRetriever, sql: SqlStore, kb: str, embedder: Embedder | None = None
) -> dict[str, float]:
    """Learn the KB's weights from its pseudo-queries and store them; the weights kept (none for
    a KB too small to learn from). Every retriever of `retriever` but the SQL one takes part.
    With the retrievers' `embedder`, the pseudo-queries are embedded first, in one bulk call that
    gives way to real questions; one by one, each would go ahead of them as a question does."""
    started = time.perf_counter()
    chunk_count = sql.chunk_count(kb)
    if chunk_count < MIN_CHUNKS:
        return {}
    plain = retriever.only([r.name for r in retriever.retrievers if r.name not in UNLEARNED])
    queries = pseudo_queries(sql, kb)
    if embedder is not None:
        embedder.embed_remembered([query.text for query in queries])
    lists, answers, absent = [], [], []
    for query in queries:
        found = plain.retrieve(query.text, kb, plain.candidates)
        if found.failed:  # a retriever that timed out says nothing about its weight
            continue
        lists.append(found.results)
        answers.append(query.chunk_id)
        if (level := absent_level(found.results.get("vector", []), query.document_id)) is not None:
            absent.append(level)
    weights, quality = learn_weights(lists, answers)
    if not weights:
        return {}
    report: dict[str, Any] = {**quality, ABSENT_LEVELS: [round(level, 4) for level in sorted(absent)]}
    sql.save_learned_weights(kb, weights, len(answers), chunk_count, report)
    log.info(
        "event=fusion_weights kb=%s queries=%d weights=%s seconds=%.1f",
        kb,
        len(answers),
        ",".join(f"{name}={weight:g}" for name, weight in sorted(weights.items())),
        time.perf_counter() - started,
    )
    return weights


def needs_refit(sql: SqlStore, kb: str) -> bool:
    """Whether the KB's weights are missing or were learned on a KB a tenth smaller or larger:
    a few documents more leave them as they are, so a small upload does not pay for a refit."""
    stored = sql.learned_weights(kb)
    if stored is None:
        return True
    return abs(sql.chunk_count(kb) - stored.chunks) >= max(REFIT_CHANGE * stored.chunks, 1)


def refit(stores: Stores, embedder: Embedder, kb: str) -> dict[str, float]:
    """`calibrate` with the retrievers and fusion the settings describe (after an ingest)."""
    settings = stores.settings
    retriever = FusedRetriever(
        open_retrievers(stores, embedder, list(LEARNED)),
        settings.fusion_weights,
        settings.retriever_timeout_s,
        method=settings.fusion,
    )
    return calibrate(retriever, stores.sql, kb, embedder)


class LearnedWeightsCache:
    """`FusedRetriever.learned`: a KB's stored weights (and its answer-absent levels, for the
    answer flow's abstention), read at most once a minute per KB."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, LearnedWeights | None]] = {}

    def __call__(self, kb: str) -> Mapping[str, float]:
        stored = self._stored(kb)
        return stored.weights if stored is not None else {}

    def absent_levels(self, kb: str) -> list[float]:
        """The best dense scores of the KB's pseudo-queries with their own document left out,
        sorted; empty when the KB has no calibration (or one from before the levels existed)."""
        stored = self._stored(kb)
        return list(stored.report.get(ABSENT_LEVELS, [])) if stored is not None else []

    def _stored(self, kb: str) -> LearnedWeights | None:
        now = time.monotonic()
        with self._lock:
            cached = self._read.get(kb)
            if cached is not None and now - cached[0] < CACHE_S:
                return cached[1]
        stored = self.sql.learned_weights(kb)
        with self._lock:
            self._read[kb] = (now, stored)
        return stored

    def forget(self, kb: str) -> None:
        """Read the KB's weights afresh on the next question (after this process refitted them)."""
        with self._lock:
            self._read.pop(kb, None)
