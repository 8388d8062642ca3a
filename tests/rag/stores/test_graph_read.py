"""The graph store's reads for retrieval, on LadybugDB for real; Neo4j when RAG_TEST_NEO4J_URL names one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rag.models import (
    CO_OCCURS,
    Chunk,
    Entity,
    Fact,
    GraphBatch,
    Mention,
    Relation,
    chunk_id,
    document_id,
    entity_id,
)
from rag.stores.graph import GraphStore

#: (source, relation, target) per chunk of one document: a chain Alice → Vantor Labs → Lyon → France,
#: a hub with many co-occurrences, and a fact of someone else.
FACTS = [
    ("Alice Moreau", "works_at", "Vantor Labs"),
    ("Vantor Labs", "located_in", "Lyon"),
    ("Lyon", "located_in", "France"),
    ("Bob Stone", "works_at", "Kestrel Bank"),
]


def key(name: str) -> str:
    return name.lower()


def graph(kb: str, facts: list[tuple[str, str, str]], source: str = "a.txt") -> GraphBatch:
    """One document whose n-th chunk mentions the two ends of `facts[n]` and records the relation."""
    doc = document_id(kb, source)
    batch = GraphBatch(kb=kb)
    entities: dict[str, Entity] = {}
    for ordinal, (first, relation, second) in enumerate(facts):
        chunk = Chunk(chunk_id(doc, ordinal), doc, kb, ordinal, f"{first} {relation} {second}", 3)
        batch.chunks.append(chunk)
        ends = [
            entities.setdefault(n, Entity(entity_id(kb, key(n)), kb, n, "other")) for n in (first, second)
        ]
        batch.mentions += [Mention(chunk.id, end.id) for end in ends]
        batch.relations.append(Relation(kb, ends[0].id, ends[1].id, relation, chunk.id, doc))
    batch.entities = list(entities.values())
    return batch


def chunk_of(kb: str, ordinal: int, source: str = "a.txt") -> str:
    return chunk_id(document_id(kb, source), ordinal)


def triples(facts: list[Fact]) -> list[tuple[str, str, str, int]]:
    return [(f.source, f.relation, f.target, f.hops) for f in facts]


@pytest.fixture
def store(graph_store: GraphStore) -> GraphStore:
    return graph_store


@pytest.fixture
def kbs(store: GraphStore) -> Iterator[tuple[str, str]]:
    """Two KBs of this test alone holding the same names, so a shared Neo4j server keeps other data apart."""
    names = (f"kb-{uuid.uuid4().hex[:8]}", f"kb-{uuid.uuid4().hex[:8]}")
    store.upsert(graph(names[0], FACTS))
    store.upsert(graph(names[1], [("Alice Moreau", "works_at", "Other Corp")]))
    yield names
    for kb in names:
        store.delete_kb(kb)


def test_find_entities_matches_normalised_names_exactly_within_the_kb(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb, other = kbs
    found = store.find_entities(kb, ["alice moreau", "lyon", "alice", "nobody"])
    assert sorted(e.name for e in found) == ["Alice Moreau", "Lyon"]
    assert all(e.kb == kb and e.id == entity_id(kb, key(e.name)) for e in found)
    assert [e.kb for e in store.find_entities(other, ["alice moreau"])] == [other]
    assert store.find_entities(kb, []) == []


def test_entity_candidates_contain_a_word_case_insensitively_and_are_bounded(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb, other = kbs
    assert [e.name for e in store.entity_candidates(kb, ["moreau"], 10)] == ["Alice Moreau"]
    both = store.entity_candidates(kb, ["LYON", "vantor"], 10)
    assert sorted(e.name for e in both) == ["Lyon", "Vantor Labs"]
    assert [e.name for e in store.entity_candidates(kb, ["o"], 2)] == ["Lyon", "Bob Stone"]  # shortest first
    assert [e.name for e in store.entity_candidates(other, ["corp"], 10)] == ["Other Corp"]
    assert store.entity_candidates(kb, ["corp"], 10) == []
    assert store.entity_candidates(kb, [], 10) == []


def test_neighbourhood_walks_one_then_two_hops(store: GraphStore, kbs: tuple[str, str]) -> None:
    kb = kbs[0]
    alice = entity_id(kb, "alice moreau")
    assert triples(store.neighbourhood(kb, [alice], 1, 10)) == [
        ("Alice Moreau", "works_at", "Vantor Labs", 1)
    ]
    two = store.neighbourhood(kb, [alice], 2, 10)
    assert triples(two) == [
        ("Alice Moreau", "works_at", "Vantor Labs", 1),
        ("Vantor Labs", "located_in", "Lyon", 2),
    ]
    assert [f.chunk_id for f in two] == [chunk_of(kb, 0), chunk_of(kb, 1)]
    assert (two[0].source_id, two[0].target_id) == (alice, entity_id(kb, "vantor labs"))


def test_neighbourhood_follows_relations_against_their_direction(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb = kbs[0]
    lyon = entity_id(kb, "lyon")
    facts = triples(store.neighbourhood(kb, [lyon], 2, 10))
    assert facts[:2] == [("Lyon", "located_in", "France", 1), ("Vantor Labs", "located_in", "Lyon", 1)]
    assert facts[2:] == [("Alice Moreau", "works_at", "Vantor Labs", 2)]


def test_neighbourhood_is_bounded_and_keeps_typed_relations_first(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb = kbs[0]
    hub = [("Hub", CO_OCCURS, f"Spoke {n}") for n in range(30)] + [("Hub", "founded", "Zeta")]
    store.upsert(graph(kb, hub, source="hub.txt"))
    facts = store.neighbourhood(kb, [entity_id(kb, "hub")], 2, 5)
    assert len(facts) == 5
    assert triples(facts)[0] == ("Hub", "founded", "Zeta", 1)


def test_neighbourhood_stays_in_its_kb(store: GraphStore, kbs: tuple[str, str]) -> None:
    kb, other = kbs
    facts = store.neighbourhood(other, [entity_id(other, "alice moreau")], 2, 10)
    assert triples(facts) == [("Alice Moreau", "works_at", "Other Corp", 1)]
    assert store.neighbourhood(kb, [entity_id(other, "alice moreau")], 2, 10) == []


def test_mentions_read_both_ways_and_degrees_count_chunks(store: GraphStore, kbs: tuple[str, str]) -> None:
    """The neighbourhood a graph walk pulls in: chunk → entities, entity → chunks, and how many
    chunks mention each entity (its specificity), all within the KB asked."""
    kb, other = kbs
    vantor, lyon = entity_id(kb, "vantor labs"), entity_id(kb, "lyon")
    assert sorted(store.chunk_mentions(kb, [chunk_of(kb, 1)])) == sorted(
        [(chunk_of(kb, 1), vantor), (chunk_of(kb, 1), lyon)]
    )
    assert sorted(store.entity_mentions(kb, [lyon])) == sorted(
        [(chunk_of(kb, 1), lyon), (chunk_of(kb, 2), lyon)]
    )
    assert store.entity_degrees(kb, [vantor, lyon, entity_id(kb, "france")]) == {
        vantor: 2,
        lyon: 2,
        entity_id(kb, "france"): 1,
    }
    assert store.chunk_mentions(kb, []) == [] and store.entity_mentions(kb, []) == []
    assert store.entity_degrees(kb, []) == {}
    assert store.entity_mentions(other, [lyon]) == [] and store.entity_degrees(other, [lyon]) == {}
