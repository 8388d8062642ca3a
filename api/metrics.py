"""Prometheus metrics: requests per route, retrieval per retriever, the model's first token, ingest.

Each app has its own registry, so several apps in one process (tests) never clash, and `/metrics`
shows exactly this service's figures.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram

from rag.answer.pipeline import RETRIEVER_TIMING
from rag.models import Answer, SourceFailure
from rag.retrieve.factory import AVAILABLE

CallNext = Callable[[Request], Awaitable[Response]]
#: seconds: retrieval is milliseconds, generation seconds
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "rag_http_request_seconds", "HTTP request latency", ["route", "method"],
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.retrieval = Histogram(
            "rag_retriever_seconds", "Latency of each retriever per question", ["retriever"],
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.retriever_failures = Counter(
            "rag_retriever_failures", "Retrievers that failed or timed out", ["retriever"],
            registry=self.registry,
        )  # fmt: skip
        self.first_token = Histogram(
            "rag_llm_first_token_seconds", "Time from request to the model's first token",
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.generation = Histogram(
            "rag_llm_generation_seconds", "Time the model spent writing an answer",
            buckets=_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "rag_llm_completion_tokens", "Pieces of answer text streamed by the model (one per token)",
            registry=self.registry,
        )  # fmt: skip
        self.ingested = Counter(
            "rag_ingest_documents", "Documents ingested through the API, by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip

    def observe_retrieval(self, timings_ms: dict[str, float], failed: list[SourceFailure]) -> None:
        """`timings_ms` as `Retrieval.timings_ms` has them: one entry per retriever that answered."""
        for name in AVAILABLE:
            if name in timings_ms:
                self.retrieval.labels(name).observe(timings_ms[name] / 1000)
        for failure in failed:
            self.retriever_failures.labels(failure.source).inc()

    def observe_answer(self, answer: Answer) -> None:
        per_retriever = {
            name.removeprefix(RETRIEVER_TIMING): ms
            for name, ms in answer.timings_ms.items()
            if name.startswith(RETRIEVER_TIMING)
        }
        self.observe_retrieval(per_retriever, answer.sources_failed)
        if "first_token" in answer.timings_ms:
            self.first_token.observe(answer.timings_ms["first_token"] / 1000)
            self.generation.observe(answer.timings_ms["generate"] / 1000)
        self.tokens.inc(answer.completion_tokens)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Count and time each request under its route template (/v1/documents/{id}), never its raw
        path, so ids do not become label values."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        self.requests.labels(template, request.method, str(response.status_code)).inc()
        self.latency.labels(template, request.method).observe(time.perf_counter() - started)
        return response
