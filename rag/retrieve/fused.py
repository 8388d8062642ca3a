"""Run the retrievers concurrently, each with its own deadline, and fuse what came back.

A retriever that raises or misses its deadline costs its share of the context, not the answer:
it is named in `failed` with the reason, and fusion goes on with the others. Threads suit the
work: the retrievers wait on databases or on torch, both of which release the GIL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from rag.common.reasons import one_line
from rag.models import Fact, Hit, SourceFailure, TableResult
from rag.retrieve.base import Evidence, Retriever
from rag.retrieve.fuse import FusedHit, FusionMethod, fuse


@dataclass(slots=True)
class Retrieval:
    """The fused hits, each retriever's own list, the facts and SQL results found besides chunks,
    who failed, and how long each took (ms)."""

    hits: list[FusedHit]
    results: dict[str, list[Hit]]
    facts: list[Fact] = field(default_factory=list)
    tables: list[TableResult] = field(default_factory=list)
    failed: list[SourceFailure] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: the weight each retriever's list was fused with: configured × learned for the KB × the
    #: retriever's confidence for this question
    weights: dict[str, float] = field(default_factory=dict)


class FusedRetriever:
    """Weighted fusion (`fuse.py`: reciprocal ranks or relative scores) over retrievers that run
    side by side."""

    def __init__(
        self,
        retrievers: list[Retriever],
        weights: dict[str, float],
        timeout_s: float,
        candidates: int = 20,
        timeouts: dict[str, float] | None = None,
        method: FusionMethod = "rrf",
        learned: Callable[[str], Mapping[str, float]] | None = None,
    ) -> None:
        self.retrievers = retrievers
        self.weights = weights
        self.method = method
        #: the KB's own weights (`calibrate.LearnedWeightsCache`), multiplying the configured ones
        self.learned = learned
        #: each retriever's deadline: `timeouts[name]` where given (the SQL retriever waits on a
        #: language model, seconds rather than milliseconds), else `timeout_s`
        self.deadlines_s = {r.name: (timeouts or {}).get(r.name, timeout_s) for r in retrievers}
        #: how many hits each retriever contributes before fusion; more than top_k, so that a
        #: chunk ranked low by one retriever and high by another can still surface
        self.candidates = candidates

    def only(self, names: list[str]) -> FusedRetriever:
        """The same fusion over a subset of its retrievers (a request may name which to use)."""
        kept = [r for r in self.retrievers if r.name in names]
        return FusedRetriever(
            kept,
            self.weights,
            0.0,
            self.candidates,
            timeouts=self.deadlines_s,
            method=self.method,
            learned=self.learned,
        )

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> Retrieval:
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.retrievers)), thread_name_prefix="retrieve")
        depth = max(top_k, self.candidates)
        futures: dict[Future[tuple[Evidence, float]], str] = {
            pool.submit(self._timed, r, question, kb, depth, filters): r.name for r in self.retrievers
        }
        found = Retrieval(hits=[], results={})
        learned = self.learned(kb) if self.learned is not None else {}
        pending = set(futures)
        while pending:
            deadline = min(started + self.deadlines_s[futures[f]] for f in pending)
            done, pending = wait(
                pending, timeout=max(0.0, deadline - time.perf_counter()), return_when=FIRST_COMPLETED
            )
            for future in done:
                name = futures[future]
                try:
                    evidence, found.timings_ms[name] = future.result()
                except Exception as exc:  # any failure of one source is reported, never raised
                    found.failed.append(SourceFailure(name, one_line(exc, typed=True)))
                    continue
                found.results[name] = evidence.hits
                confidence = min(1.0, max(0.0, evidence.confidence))
                found.weights[name] = self.weights.get(name, 1.0) * learned.get(name, 1.0) * confidence
                found.facts += evidence.facts
                found.tables += evidence.tables
            now = time.perf_counter()
            for future in [f for f in pending if started + self.deadlines_s[futures[f]] <= now]:
                pending.discard(future)
                name = futures[future]
                found.failed.append(SourceFailure(name, f"timed out after {self.deadlines_s[name]:g} s"))
        # a late retriever keeps its thread until it returns; nobody waits for it
        pool.shutdown(wait=False, cancel_futures=True)
        found.hits = fuse(found.results, found.weights, top_k=top_k, method=self.method)
        found.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
        found.failed.sort(key=lambda f: f.source)
        return found

    @staticmethod
    def _timed(
        retriever: Retriever, question: str, kb: str, top_k: int, filters: dict[str, Any] | None
    ) -> tuple[Evidence, float]:
        started = time.perf_counter()
        evidence = retriever.gather(question, kb, top_k, filters)
        return evidence, round((time.perf_counter() - started) * 1000, 2)
