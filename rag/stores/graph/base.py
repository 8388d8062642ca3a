"""The graph store protocol: entities, relations and which chunks mention them."""

from __future__ import annotations

from typing import Protocol

from rag.models import GraphBatch


class GraphStore(Protocol):
    """`(:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(:Entity)`, `(:Entity)-[:RELATED]->(:Entity)`.

    Every node carries its kb; writes are idempotent upserts keyed by the deterministic ids.
    """

    description: str

    def upsert(self, batch: GraphBatch) -> None: ...

    def delete_documents(self, kb: str, document_ids: list[str]) -> None:
        """Remove the documents' chunks, mentions and relations, then entities no longer mentioned."""

    def delete_kb(self, kb: str) -> None: ...

    def count(self, kb: str | None = None) -> dict[str, int]:
        """{"entities": n, "relations": n, "chunks": n, "documents": n}"""

    def health(self) -> None: ...

    def close(self) -> None: ...
