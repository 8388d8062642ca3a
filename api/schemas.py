"""Request and response bodies of the service's own routes, validated by pydantic and shown in /docs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.models import Citation, SourceFailure

RetrieverName = Literal["vector", "keyword", "graph", "sql"]
#: a filter value: chunk metadata must equal it (a list: equal any of its items)
FilterValue = str | int | float | bool | list[str | int | float | bool]


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000, description="The question")
    kb: str = Field("default", min_length=1, max_length=128, description="Knowledge base name")
    top_k: int | None = Field(None, ge=1, le=50, description="Fused hits in the context (default: setting)")
    retrievers: list[RetrieverName] | None = Field(
        None, min_length=1, description="Which retrievers to run (default: all)"
    )
    filters: dict[str, FilterValue] | None = Field(None, description="Chunk metadata that must match")


class QueryRequest(RetrieveRequest):
    stream: bool = Field(False, description="Server-Sent Events: token events, then one answer event")


class QueryResponse(BaseModel):
    question: str
    kb: str
    answer: str
    citations: list[Citation]
    sources_failed: list[SourceFailure]
    timings: dict[str, float]


class RetrieveResponse(BaseModel):
    question: str
    kb: str
    hits: list[dict[str, Any]]
    facts: list[dict[str, Any]]
    tables: list[dict[str, Any]]
    sources_failed: list[SourceFailure]
    timings_ms: dict[str, float]
