"""The graph store protocol: entities, relations and which chunks mention them."""

from __future__ import annotations

from typing import Protocol

from rag.models import Entity, Fact, GraphBatch


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

    def find_entities(self, kb: str, normalized_names: list[str]) -> list[Entity]:
        """The entities stored under these normalised names (`ingest.extract.normalize_name`)."""

    def entity_candidates(self, kb: str, words: list[str], limit: int) -> list[Entity]:
        """At most `limit` entities whose name contains one of the words, case-insensitively:
        the shortlist a fuzzy link scores, so no question loads all of a KB's names."""

    def neighbourhood(self, kb: str, entity_ids: list[str], hops: int, limit: int) -> list[Fact]:
        """The relations within `hops` (1 or 2) of the entities, nearest first, at most `limit`."""

    def mentioning_chunks(self, kb: str, entity_ids: list[str], limit: int) -> list[tuple[str, list[str]]]:
        """(chunk id, which of the entities it mentions) for the chunks mentioning most of them first."""

    def health(self) -> None: ...

    def close(self) -> None: ...
