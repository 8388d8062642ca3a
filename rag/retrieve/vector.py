"""Vector retrieval: the question's embedding against the chunk vectors of one knowledge base."""

from __future__ import annotations

import logging
from typing import Any

from ingest.embed import Embedder
from rag.models import Hit
from rag.retrieve.base import Retriever
from rag.stores.sql import SqlStore
from rag.stores.vector import VectorStore

log = logging.getLogger(__name__)


class VectorRetriever(Retriever):
    """Nearest chunks by cosine similarity; text and source come from the ledger.

    The vector payload holds ids and filterable metadata only, so the text to cite is read from
    the relational store (the source of truth) in one query for the whole list. A vector whose
    chunk the ledger does not know (a write interrupted between stores) is dropped, not cited.
    """

    name = "vector"

    def __init__(self, vector: VectorStore, sql: SqlStore, embedder: Embedder) -> None:
        self.vector = vector
        self.sql = sql
        self.embedder = embedder

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        query = self.embedder.embed([question])[0].tolist()
        found = self.vector.search(query, kb, top_k, filters)
        stored = self.sql.chunks_by_ids([hit.id for hit in found])
        hits: list[Hit] = []
        for point in found:
            record = stored.get(point.id)
            if record is None or record[0].kb != kb:
                log.warning("event=orphan_vector kb=%s chunk_id=%s", kb, point.id)
                continue
            chunk, source = record
            hits.append(
                Hit(
                    chunk_id=chunk.id,
                    document_id=chunk.document_id,
                    kb=chunk.kb,
                    text=chunk.text,
                    source=source,
                    score=float(point.score),
                    retriever=self.name,
                    rank=len(hits) + 1,
                    metadata=chunk.metadata,
                )
            )
        return hits
