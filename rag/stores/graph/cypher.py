"""What both graph backends send: the shared Cypher statements and the validated rows of a batch.

LadybugDB and Neo4j read the same Cypher for deletes and counts, so the embedded tests exercise most
of what the Neo4j backend runs; only the bulk write differs (COPY there, UNWIND + MERGE here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rag.models import CO_OCCURS, Entity, Fact, GraphBatch, entity_id

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

# --- reads for retrieval ----------------------------------------------------------------------------
# Exact ids are looked up with UNWIND + MATCH {id}: both engines walk the primary-key index. Patterns
# with a relationship filter by `id IN $ids` instead: LadybugDB plans UNWIND + MATCH (…)-[…]-(…{id})
# as a scan of the whole relationship table (~100 ms at 50k edges, against ~5 ms), and Neo4j seeks
# the uniqueness index for `IN` either way.

FIND_ENTITIES = "UNWIND $ids AS i MATCH (e:Entity {id: i}) WHERE e.kb = $kb RETURN e.id, e.kb, e.name, e.type"

#: Fuzzy-link candidates: names holding a word, shortest first and bounded, so a question never loads a
#: KB's names. One statement per word: LadybugDB runs `any(w IN $words …)` ~4x slower than CONTAINS.
ENTITY_CANDIDATES = (
    "MATCH (e:Entity) WHERE e.kb = $kb AND toLower(e.name) CONTAINS $word"
    " RETURN e.id, e.kb, e.name, e.type ORDER BY size(e.name), e.id LIMIT $limit"
)

#: The mention edges around a set of chunks or of entities: the neighbourhood graph retrieval walks.
_MENTION = "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) WHERE "
CHUNK_MENTIONS = _MENTION + "c.id IN $ids AND e.kb = $kb RETURN c.id, e.id"
ENTITY_MENTIONS = _MENTION + "e.id IN $ids AND c.kb = $kb RETURN c.id, e.id"
#: How many chunks of the KB mention each entity: its specificity (a hub is mentioned everywhere).
ENTITY_DEGREES = (
    "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity) WHERE e.id IN $ids AND c.kb = $kb RETURN e.id, count(c)"
)

# The edges touching a set of entities, one statement per direction (LadybugDB has no startNode()).
# Typed relations come before mere co-occurrence, so a hub's LIMIT keeps what says something.
_FACT_COLUMNS = (
    " RETURN s.id, s.name, r.type, t.id, t.name, r.chunk_id"
    " ORDER BY CASE WHEN r.type = $untyped THEN 1 ELSE 0 END, r.chunk_id, s.id, t.id LIMIT $limit"
)
FACTS_FROM = "MATCH (s:Entity)-[r:RELATED]->(t:Entity) WHERE s.id IN $ids AND t.kb = $kb" + _FACT_COLUMNS
FACTS_TO = "MATCH (s:Entity)-[r:RELATED]->(t:Entity) WHERE t.id IN $ids AND s.kb = $kb" + _FACT_COLUMNS

#: Runs one read statement with its parameters and returns its rows as lists.
Runner = Callable[[str, Row], list[list[Any]]]


def find_entities(run: Runner, kb: str, normalized_names: list[str]) -> list[Entity]:
    """Entities stored under these normalised names (exact: the id is derived from kb and name)."""
    ids = list(dict.fromkeys(entity_id(kb, name) for name in normalized_names))
    if not ids:
        return []
    return [Entity(*row) for row in run(FIND_ENTITIES, {"kb": kb, "ids": ids})]


def entity_candidates(run: Runner, kb: str, words: list[str], limit: int) -> list[Entity]:
    """Entities whose name contains one of the lower-case words, shortest names first, at most `limit`."""
    found: dict[str, Entity] = {}
    for word in dict.fromkeys(word.lower() for word in words if word):
        for row in run(ENTITY_CANDIDATES, {"kb": kb, "word": word, "limit": limit}):
            found.setdefault(row[0], Entity(*row))
    return sorted(found.values(), key=lambda entity: (len(entity.name), entity.id))[: max(limit, 0)]


def chunk_mentions(run: Runner, kb: str, chunk_ids: list[str]) -> list[tuple[str, str]]:
    """(chunk id, entity id) for every entity the chunks mention."""
    if not chunk_ids:
        return []
    rows = run(CHUNK_MENTIONS, {"kb": kb, "ids": list(dict.fromkeys(chunk_ids))})
    return [(row[0], row[1]) for row in rows]


def entity_mentions(run: Runner, kb: str, entity_ids: list[str]) -> list[tuple[str, str]]:
    """(chunk id, entity id) for every chunk mentioning one of the entities."""
    if not entity_ids:
        return []
    rows = run(ENTITY_MENTIONS, {"kb": kb, "ids": list(dict.fromkeys(entity_ids))})
    return [(row[0], row[1]) for row in rows]


def entity_degrees(run: Runner, kb: str, entity_ids: list[str]) -> dict[str, int]:
    """Entity id → how many chunks of the KB mention it (an entity no chunk mentions is left out)."""
    if not entity_ids:
        return {}
    rows = run(ENTITY_DEGREES, {"kb": kb, "ids": list(dict.fromkeys(entity_ids))})
    return {row[0]: int(row[1]) for row in rows}


def neighbourhood(run: Runner, kb: str, entity_ids: list[str], hops: int, limit: int) -> list[Fact]:
    """The relations within `hops` of the entities, nearest first, at most `limit` facts.

    Walked one hop at a time from a frontier rather than with a variable-length pattern: the two
    engines return the edges of a path differently, and a per-hop LIMIT keeps a hub from flooding it.
    """
    facts: dict[tuple[str, str, str, str], Fact] = {}
    seen = set(entity_ids)
    frontier = list(dict.fromkeys(entity_ids))
    for hop in range(1, hops + 1):
        reached: list[str] = []
        for query in (FACTS_FROM, FACTS_TO):
            left = limit - len(facts)
            if not frontier or left <= 0:
                break
            for source_id, source, relation, target_id, target, chunk in run(
                query, {"kb": kb, "ids": frontier, "untyped": CO_OCCURS, "limit": left}
            ):
                key = (source_id, relation, target_id, chunk)
                if key not in facts:
                    facts[key] = Fact(source_id, source, relation, target_id, target, chunk, hop)
                for node in (source_id, target_id):
                    if node not in seen:
                        seen.add(node)
                        reached.append(node)
        frontier = reached
    return list(facts.values())


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
