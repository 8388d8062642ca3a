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

    def chunk_mentions(self, kb: str, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""

    def entity_mentions(self, kb: str, entity_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every chunk mentioning one of the entities: a caller bounds
        the list by leaving out entities whose `entity_degrees` say they are everywhere."""

    def entity_degrees(self, kb: str, entity_ids: list[str]) -> dict[str, int]:
        """Entity id → how many chunks of the KB mention it: the entity's specificity."""

    def health(self) -> None: ...

    def close(self) -> None: ...
