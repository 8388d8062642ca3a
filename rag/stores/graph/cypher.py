"""What both graph backends send: the shared Cypher statements and the validated rows of a batch.

LadybugDB and Neo4j read the same Cypher for deletes and counts, so the embedded tests exercise most
of what the Neo4j backend runs; only the bulk write differs (COPY there, UNWIND + MERGE here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.models import GraphBatch

Row = dict[str, Any]

#: Replacing chunks: their HAS_CHUNK and MENTIONS edges go with them, their RELATED edges by chunk_id.
CLEAR_CHUNKS = "MATCH (c:Chunk) WHERE c.id IN $ids DETACH DELETE c"
CLEAR_CHUNK_RELATIONS = "MATCH ()-[r:RELATED]->() WHERE r.chunk_id IN $ids DELETE r"

DELETE_DOCUMENTS = (
    "MATCH (a:Entity)-[r:RELATED]->() WHERE a.kb = $kb AND r.document_id IN $ids DELETE r",
    "MATCH (c:Chunk) WHERE c.kb = $kb AND c.document_id IN $ids DETACH DELETE c",
    "MATCH (d:Document) WHERE d.kb = $kb AND d.id IN $ids DETACH DELETE d",
)

#: Entities are shared across the documents of a KB; one lives as long as some chunk mentions it.
DELETE_ORPHAN_ENTITIES = (
    "MATCH (e:Entity) WHERE e.kb = $kb AND NOT EXISTS { MATCH (:Chunk)-[:MENTIONS]->(e) } DETACH DELETE e"
)

DELETE_KB = (
    "MATCH (e:Entity) WHERE e.kb = $kb DETACH DELETE e",
    "MATCH (c:Chunk) WHERE c.kb = $kb DETACH DELETE c",
    "MATCH (d:Document) WHERE d.kb = $kb DETACH DELETE d",
)

ENTITY_NAMES = "MATCH (e:Entity) WHERE e.kb = $kb RETURN e.name ORDER BY e.name"

_COUNT_PATTERNS = {
    "documents": "MATCH (n:Document)",
    "chunks": "MATCH (n:Chunk)",
    "entities": "MATCH (n:Entity)",
    "relations": "MATCH (n:Entity)-[r:RELATED]->()",
}


def count_queries(kb: str | None) -> dict[str, str]:
    """One `RETURN count(*)` per kind, filtered by `$kb` when given.

    Two texts rather than `$kb IS NULL OR …`: LadybugDB cannot type a null parameter.
    """
    where = " WHERE n.kb = $kb" if kb is not None else ""
    return {kind: f"{pattern}{where} RETURN count(*)" for kind, pattern in _COUNT_PATTERNS.items()}


@dataclass(frozen=True, slots=True)
class BatchRows:
    """A batch as plain rows, deduplicated; each row's key order is its table's column order."""

    chunk_ids: list[str]
    documents: list[Row]
    chunks: list[Row]
    entities: list[Row]
    mentions: list[Row]
    relations: list[Row]


def batch_rows(batch: GraphBatch) -> BatchRows:
    """Validate and flatten a batch.

    A batch is the whole graph of its chunks: re-upserting a chunk replaces its mentions and relations,
    so every mention and relation must belong to a chunk of the batch and name entities of the batch.
    Both backends reject the same bad batches instead of one silently dropping what the other refuses.
    """
    kb = batch.kb
    documents: dict[str, Row] = {}
    chunks: dict[str, Row] = {}
    for chunk in batch.chunks:
        _same_kb(kb, chunk.kb, f"chunk {chunk.id}")
        documents.setdefault(chunk.document_id, {"id": chunk.document_id, "kb": kb})
        chunks[chunk.id] = {
            "id": chunk.id,
            "kb": kb,
            "document_id": chunk.document_id,
            "ordinal": chunk.ordinal,
        }
    entities: dict[str, Row] = {}
    for entity in batch.entities:
        _same_kb(kb, entity.kb, f"entity {entity.id}")
        entities.setdefault(entity.id, {"id": entity.id, "kb": kb, "name": entity.name, "type": entity.type})
    mentions: dict[tuple[str, str], Row] = {}
    for mention in batch.mentions:
        _known(mention.chunk_id, chunks, "mention of a chunk")
        _known(mention.entity_id, entities, "mention of an entity")
        mentions[(mention.chunk_id, mention.entity_id)] = {
            "chunk_id": mention.chunk_id,
            "entity_id": mention.entity_id,
        }
    relations: dict[tuple[str, str, str, str], Row] = {}
    for relation in batch.relations:
        _same_kb(kb, relation.kb, f"relation {relation.source_id}->{relation.target_id}")
        _known(relation.chunk_id, chunks, "relation from a chunk")
        _known(relation.source_id, entities, "relation from an entity")
        _known(relation.target_id, entities, "relation to an entity")
        if chunks[relation.chunk_id]["document_id"] != relation.document_id:
            raise ValueError(f"relation in chunk {relation.chunk_id} names another document")
        key = (relation.source_id, relation.target_id, relation.type, relation.chunk_id)
        relations[key] = {
            "source_id": relation.source_id,
            "target_id": relation.target_id,
            "type": relation.type,
            "chunk_id": relation.chunk_id,
            "document_id": relation.document_id,
        }
    return BatchRows(
        chunk_ids=list(chunks),
        documents=list(documents.values()),
        chunks=list(chunks.values()),
        entities=list(entities.values()),
        mentions=list(mentions.values()),
        relations=list(relations.values()),
    )


def _same_kb(kb: str, other: str, what: str) -> None:
    if other != kb:
        raise ValueError(f"{what} belongs to kb {other!r}, not to the batch's kb {kb!r}")


def _known(key: str, rows: dict[str, Row], what: str) -> None:
    if key not in rows:
        raise ValueError(f"{what} not in the batch: {key}")
