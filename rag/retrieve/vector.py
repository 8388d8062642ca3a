"""Vector retrieval: the question's embedding against the chunk vectors of one knowledge base."""

from __future__ import annotations

from typing import Any

from rag.embed import Embedder
from rag.models import Hit
from rag.retrieve.base import Retriever, chunk_hit, ledger_chunks
from rag.stores.errors import VectorsMissing
from rag.stores.sql import SqlStore
from rag.stores.vector import VectorStore


class VectorRetriever(Retriever):
    """Nearest chunks by cosine similarity; text and source come from the ledger.

    The vector payload holds ids and filterable metadata only, so the text to cite is read from
    the relational store (the source of truth) in one query for the whole list. A vector whose
    chunk the ledger does not know (a write interrupted between stores) is dropped, not cited.
    """

    name = "vector"

    def __init__(self, vector: VectorStore, sql: SqlStore, embedder: Embedder, collection: str) -> None:
        self.vector = vector
        self.sql = sql
        self.embedder = embedder
        #: the collection's name as the ledger records it (`documents.vectors_in`)
        self.collection = collection

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        query = self.embedder.embed_query(question).tolist()
        found = self.vector.search(query, kb, top_k, filters)
        if not found:
            self._check_coverage(kb)
        scores = {point.id: float(point.score) for point in found}
        kept = ledger_chunks(self.sql, list(scores), kb, self.name)
        return [
            chunk_hit(chunk, source, scores[chunk.id], self.name, rank)
            for rank, (chunk, source) in enumerate(kept.values(), start=1)
        ]

    def _check_coverage(self, kb: str) -> None:
        """Nothing found: raise when that is because the KB's vectors are in another model's
        collection, so fusion names this retriever as failed instead of an empty list passing
        for "nothing matches". (A filter matching nothing, or an empty KB, still finds nothing.)"""
        chunks, covered = self.sql.vector_coverage(kb, self.collection)
        if chunks and not covered and self.vector.count(kb) == 0:
            raise VectorsMissing(kb, chunks, self.embedder.info.name)
