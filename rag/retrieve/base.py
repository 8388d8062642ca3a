"""What every retriever offers, so the pipeline can run them side by side and fuse their lists."""

from __future__ import annotations

from typing import Any, Protocol

from rag.models import Hit


class Retriever(Protocol):
    """Finds the chunks of one knowledge base that answer a question, best first.

    A retriever raises when its store fails (e.g. `StoreUnavailable`); the caller turns that
    into a degraded answer instead of each retriever hiding its failure in an empty list.
    """

    #: "vector" | "keyword" | "sql" | "graph": the `Hit.retriever` of every hit it returns
    name: str

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """At most `top_k` hits of `kb`, ranked 1…n; `filters` match chunk metadata exactly
        (a list value matches any of its items), as the vector store's payload filters do."""
        ...
