"""What every retriever offers, so the pipeline can run them side by side and fuse their lists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag.models import Chunk, Fact, Hit, TableResult
from rag.stores.sql import SqlStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Evidence:
    """What one retriever found for a question: chunks that compete in fusion, and the graph facts
    and SQL results that do not (they are no chunks) and get their own share of the prompt."""

    hits: list[Hit]
    facts: list[Fact] = field(default_factory=list)
    tables: list[TableResult] = field(default_factory=list)
    #: how much the retriever has to say for this question, in [0, 1]: fusion multiplies its weight
    #: by it (the graph's best entity link, say), so a retriever guessing does not dilute the others
    confidence: float = 1.0


class Retriever(Protocol):
    """Finds the chunks of one knowledge base that answer a question, best first.

    A retriever raises when its store fails (e.g. `StoreUnavailable`); the caller turns that
    into a degraded answer instead of each retriever hiding its failure in an empty list.
    Retrievers subclass this protocol to inherit `gather`, and override it when they find more
    than chunks.
    """

    #: "vector" | "keyword" | "sql" | "graph": the `Hit.retriever` of every hit it returns
    name: str

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        """At most `top_k` hits of `kb`, ranked 1…n, keeping only chunks that `filters` match
        (the grammar of `rag.common.filters`, documented in docs/retrieval.md)."""
        ...

    def gather(self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None) -> Evidence:
        """Everything the retriever found for the prompt; by default, its hits alone."""
        return Evidence(self.retrieve(question, kb, top_k, filters))


def ledger_chunks(
    sql: SqlStore, chunk_ids: list[str], kb: str, retriever: str
) -> dict[str, tuple[Chunk, str]]:
    """The chunks (with their document's source) that the ledger holds in `kb`, in the order of
    `chunk_ids`. An id it does not hold (a write interrupted between stores) is logged and left
    out: what is not in the ledger is never cited."""
    stored = sql.chunks_by_ids(chunk_ids)
    kept: dict[str, tuple[Chunk, str]] = {}
    for chunk_id in chunk_ids:
        record = stored.get(chunk_id)
        if record is None or record[0].kb != kb:
            log.warning("event=orphan_chunk retriever=%s kb=%s chunk_id=%s", retriever, kb, chunk_id)
        else:
            kept[chunk_id] = record
    return kept


def chunk_hit(chunk: Chunk, source: str, score: float, retriever: str, rank: int) -> Hit:
    return Hit(
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        kb=chunk.kb,
        text=chunk.text,
        source=source,
        score=score,
        retriever=retriever,
        rank=rank,
        metadata=chunk.metadata,
    )
