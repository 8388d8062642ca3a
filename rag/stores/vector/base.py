"""The vector store protocol: the few operations ingest and retrieval need, nothing more."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from rag.models import VectorHit, VectorPoint

#: a payload key Qdrant reads as written; in any other `.` or `[]` would be a path into nested payload
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True, slots=True)
class QdrantCluster:
    """The shape of the collection on a distributed Qdrant (`RAG_VECTOR_SHARDS`, `…_REPLICAS`,
    `…_WRITE_CONSISTENCY`); one shard, one copy on a single node."""

    shards: int = 1
    replicas: int = 1
    #: how many replicas of a shard must confirm a write before it is acknowledged
    write_consistency: int = 1


class VectorStore(Protocol):
    """Chunk vectors of one embedding model (one collection), filtered by knowledge base.

    Point id = chunk id; the payload carries at least `kb`, `document_id` and `ordinal`.
    """

    #: e.g. "qdrant-edge:/data/vectors" or "qdrant:http://host:6333" (no secrets)
    description: str

    def upsert(self, points: list[VectorPoint]) -> None: ...

    def delete_documents(self, kb: str, document_ids: list[str]) -> None: ...

    def delete_kb(self, kb: str) -> None: ...

    def search(
        self,
        vector: list[float],
        kb: str,
        top_k: int,
        filters: dict[str, Any] | None = None,
    ) -> list[VectorHit]: ...

    def count(self, kb: str | None = None) -> int: ...

    def optimize(self) -> None:
        """Build indexes after a bulk write (a no-op where the server does it itself)."""

    def health(self) -> None:
        """Raise StoreUnavailable with a clear message when the store cannot be used."""

    def close(self) -> None: ...


def payload_key(key: str) -> str:
    """The Qdrant path of a top-level payload key, quoted unless plain: filter keys are literal names."""
    return key if _PLAIN_KEY.fullmatch(key) else f'"{key}"'
