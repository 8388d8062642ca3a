"""Run the retrievers concurrently, each with its own deadline, and fuse what came back.

A retriever that raises or misses its deadline costs its share of the context, not the answer:
it is named in `failed` with the reason, and fusion goes on with the others. Threads suit the
work: the retrievers wait on databases or on torch, both of which release the GIL.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from rag.models import Hit
from rag.retrieve.base import Retriever
from rag.retrieve.fuse import FusedHit, fuse


@dataclass(slots=True)
class SourceFailure:
    """A retriever that did not contribute, and why (one line, no secrets)."""

    source: str
    reason: str


@dataclass(slots=True)
class Retrieval:
    """The fused hits, each retriever's own list, who failed, and how long each took (ms)."""

    hits: list[FusedHit]
    results: dict[str, list[Hit]]
    failed: list[SourceFailure] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class FusedRetriever:
    """Weighted reciprocal-rank fusion over retrievers that run side by side."""

    def __init__(
        self,
        retrievers: list[Retriever],
        weights: dict[str, float],
        timeout_s: float,
        candidates: int = 20,
    ) -> None:
        self.retrievers = retrievers
        self.weights = weights
        self.timeout_s = timeout_s
        #: how many hits each retriever contributes before fusion; more than top_k, so that a
        #: chunk ranked low by one retriever and high by another can still surface
        self.candidates = candidates

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> Retrieval:
        started = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.retrievers)), thread_name_prefix="retrieve")
        depth = max(top_k, self.candidates)
        futures: dict[Future[list[Hit]], str] = {
            pool.submit(self._timed, r, question, kb, depth, filters): r.name for r in self.retrievers
        }
        results: dict[str, list[Hit]] = {}
        failed: list[SourceFailure] = []
        timings: dict[str, float] = {}
        pending = set(futures)
        deadline = started + self.timeout_s
        while pending:
            done, pending = wait(
                pending, timeout=max(0.0, deadline - time.perf_counter()), return_when=FIRST_COMPLETED
            )
            if not done:
                break
            for future in done:
                name = futures[future]
                try:
                    results[name], timings[name] = future.result()
                except Exception as exc:  # any failure of one source is reported, never raised
                    failed.append(SourceFailure(name, _reason(exc)))
        for future in pending:
            failed.append(SourceFailure(futures[future], f"timed out after {self.timeout_s:g} s"))
        # a late retriever keeps its thread until it returns; nobody waits for it
        pool.shutdown(wait=False, cancel_futures=True)
        hits = fuse(results, self.weights, top_k=top_k)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        failed.sort(key=lambda f: f.source)
        return Retrieval(hits=hits, results=results, failed=failed, timings_ms=timings)

    @staticmethod
    def _timed(
        retriever: Retriever, question: str, kb: str, top_k: int, filters: dict[str, Any] | None
    ) -> tuple[list[Hit], float]:
        started = time.perf_counter()
        hits = retriever.retrieve(question, kb, top_k, filters)
        return hits, round((time.perf_counter() - started) * 1000, 2)
