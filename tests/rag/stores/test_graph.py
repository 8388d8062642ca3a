"""The graph store contract, checked on LadybugDB for real; Neo4j runs when RAG_TEST_NEO4J_URL names one."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ladybug
import pytest

from rag.models import Chunk, Entity, GraphBatch, Mention, Relation, chunk_id, document_id, entity_id
from rag.stores.errors import StoreUnavailable
from rag.stores.graph import GraphStore, open_graph_store
from rag.stores.graph import ladybug as ladybug_backend
from rag.stores.graph import neo4j as neo4j_backend
from rag.stores.graph.cypher import batch_rows
from rag.stores.graph.ladybug import DB_FILE, LadybugGraphStore
from rag.stores.graph.neo4j import Neo4jGraphStore
from rag.stores.lock import StoreLocked
from tests.builders import REPO


def make_batch(kb: str, source: str, chunks: list[list[str]], relations: tuple[str, ...] = ()) -> GraphBatch:
    """One document whose n-th chunk mentions the entities named in `chunks[n]`.

    `relations` are "A>B" pairs; each is recorded in the first chunk that mentions both.
    """
    doc = document_id(kb, source)
    batch = GraphBatch(kb=kb)
    entities: dict[str, Entity] = {}
    for ordinal, names in enumerate(chunks):
        chunk = Chunk(chunk_id(doc, ordinal), doc, kb, ordinal, " ".join(names), len(names))
        batch.chunks.append(chunk)
        for name in names:
            entity = entities.setdefault(name, Entity(entity_id(kb, name.lower()), kb, name, "organization"))
            batch.mentions.append(Mention(chunk.id, entity.id))
    for pair in relations:
        source_name, target_name = pair.split(">")
        chunk = next(
            c
            for c, names in zip(batch.chunks, chunks, strict=True)
            if {source_name, target_name} <= set(names)
        )
        source_id, target_id = entities[source_name].id, entities[target_name].id
        batch.relations.append(Relation(kb, source_id, target_id, "related_to", chunk.id, doc))
    batch.entities = list(entities.values())
    return batch


def counts(documents: int, chunks: int, entities: int, relations: int) -> dict[str, int]:
    return {"documents": documents, "chunks": chunks, "entities": entities, "relations": relations}


@pytest.fixture
def store(graph_store: GraphStore) -> GraphStore:
    return graph_store


@pytest.fixture
def kbs(store: GraphStore) -> Iterator[tuple[str, str]]:
    """Two KB names of this test alone, so a shared Neo4j server keeps other data apart."""
    names = (f"kb-{uuid.uuid4().hex[:8]}", f"kb-{uuid.uuid4().hex[:8]}")
    yield names
    for kb in names:
        store.delete_kb(kb)


def test_upsert_records_documents_chunks_entities_and_relations(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb = kbs[0]
    store.upsert(make_batch(kb, "a.txt", [["Acme", "Bob"], ["Acme", "Paris"]], ("Bob>Acme", "Acme>Paris")))
    assert store.count(kb) == counts(documents=1, chunks=2, entities=3, relations=2)
    assert store.entity_names(kb) == ["Acme", "Bob", "Paris"]  # type: ignore[attr-defined]


def test_reupserting_the_same_batch_changes_nothing(store: GraphStore, kbs: tuple[str, str]) -> None:
    kb = kbs[0]
    batch = make_batch(kb, "a.txt", [["Acme", "Bob"], ["Acme", "Paris"]], ("Bob>Acme", "Acme>Paris"))
    store.upsert(batch)
    store.upsert(batch)
    store.upsert(batch)
    assert store.count(kb) == counts(documents=1, chunks=2, entities=3, relations=2)


def test_reupserting_a_chunk_replaces_its_mentions_and_relations(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb = kbs[0]
    store.upsert(make_batch(kb, "a.txt", [["Acme", "Bob"]], ("Bob>Acme",)))
    store.upsert(make_batch(kb, "a.txt", [["Initech", "Carol"]]))
    assert store.count(kb) == counts(documents=1, chunks=1, entities=2, relations=0)


def test_a_shared_entity_lives_until_no_document_mentions_it(store: GraphStore, kbs: tuple[str, str]) -> None:
    kb = kbs[0]
    store.upsert(make_batch(kb, "a.txt", [["Acme", "Bob"]], ("Bob>Acme",)))
    store.upsert(make_batch(kb, "b.txt", [["Acme", "Carol"]], ("Carol>Acme",)))
    assert store.count(kb) == counts(documents=2, chunks=2, entities=3, relations=2)

    store.delete_documents(kb, [document_id(kb, "a.txt")])
    assert store.count(kb) == counts(documents=1, chunks=1, entities=2, relations=1)

    store.delete_documents(kb, [document_id(kb, "b.txt")])
    assert store.count(kb) == counts(documents=0, chunks=0, entities=0, relations=0)


def test_delete_kb_leaves_other_kbs_alone(store: GraphStore, kbs: tuple[str, str]) -> None:
    first, second = kbs
    store.upsert(make_batch(first, "a.txt", [["Acme", "Bob"]], ("Bob>Acme",)))
    store.upsert(make_batch(second, "a.txt", [["Acme", "Bob"], ["Paris"]], ("Bob>Acme",)))

    store.delete_kb(first)

    assert store.count(first) == counts(documents=0, chunks=0, entities=0, relations=0)
    assert store.count(second) == counts(documents=1, chunks=2, entities=3, relations=1)


def test_delete_documents_is_scoped_to_its_kb(store: GraphStore, kbs: tuple[str, str]) -> None:
    first, second = kbs
    store.upsert(make_batch(first, "a.txt", [["Acme"]]))
    store.upsert(make_batch(second, "a.txt", [["Acme"]]))
    store.delete_documents(first, [document_id(second, "a.txt")])
    assert store.count(second) == counts(documents=1, chunks=1, entities=1, relations=0)


def test_a_batch_naming_chunks_or_entities_outside_it_is_refused(
    store: GraphStore, kbs: tuple[str, str]
) -> None:
    kb = kbs[0]
    batch = make_batch(kb, "a.txt", [["Acme"]])
    batch.mentions.append(Mention(chunk_id(document_id(kb, "other.txt"), 0), batch.entities[0].id))
    with pytest.raises(ValueError, match="not in the batch"):
        store.upsert(batch)
    assert store.count(kb) == counts(documents=0, chunks=0, entities=0, relations=0)


def test_a_large_batch_is_recorded_whole(store: GraphStore, kbs: tuple[str, str]) -> None:
    kb = kbs[0]
    chunks = [[f"Company {(n * 7 + k) % 400}" for k in range(5)] for n in range(300)]
    pairs = tuple(f"{names[k]}>{names[k + 1]}" for names in chunks[:100] for k in range(4))
    batch = make_batch(kb, "big.txt", chunks, pairs)
    store.upsert(batch)
    store.upsert(batch)
    assert store.count(kb) == counts(documents=1, chunks=300, entities=400, relations=len(set(pairs)))


@pytest.mark.parametrize("written_by", ["statements", "copy"])
def test_ladybug_keeps_names_with_quotes_commas_and_newlines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written_by: str
) -> None:
    if written_by == "copy":
        monkeypatch.setattr(ladybug_backend, "SMALL_BATCH_ROWS", 0)
    kb = "kb"
    names = ['Acme, "The Best" Inc', "back\\slash", "两行\n名字"]
    store = LadybugGraphStore(tmp_path / "graph")
    store.upsert(make_batch(kb, "a.txt", [names]))
    store.close()

    db = ladybug.Database(tmp_path / "graph" / DB_FILE, read_only=True)
    stored = ladybug.Connection(db).execute("MATCH (e:Entity) RETURN e.name").get_all()
    db.close()
    assert sorted(row[0] for row in stored) == sorted(names)


def test_ladybug_reads_do_not_wait_for_an_open_write(tmp_path: Path) -> None:
    """A question's graph reads run beside an ingest's write transaction and see the last commit."""
    store = LadybugGraphStore(tmp_path / "graph")
    store.upsert(make_batch("kb", "a.txt", [["Acme"]]))
    with ThreadPoolExecutor(1) as reader, store._lock, store._transaction():  # a writer mid-upsert
        store._run("CREATE (:Entity {id: 'x', kb: 'kb', name: 'Zed', type: 'person'})")
        assert reader.submit(store.count, "kb").result(timeout=10)["entities"] == 1
        assert reader.submit(store.find_entities, "kb", ["acme"]).result(timeout=10)[0].name == "Acme"
    assert store.count("kb")["entities"] == 2
    store.close()


def test_ladybug_reads_after_close_are_refused_as_unavailable(tmp_path: Path) -> None:
    store = LadybugGraphStore(tmp_path / "graph")
    store.upsert(make_batch("kb", "a.txt", [["Acme"]]))
    assert store.find_entities("kb", ["acme"])  # a reader connection is open
    store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        store.find_entities("kb", ["acme"])


def test_ladybug_persists_across_reopen(tmp_path: Path) -> None:
    store = LadybugGraphStore(tmp_path / "graph")
    store.upsert(make_batch("kb", "a.txt", [["Acme", "Bob"]], ("Bob>Acme",)))
    store.close()

    reopened = LadybugGraphStore(tmp_path / "graph")
    assert reopened.count("kb") == counts(documents=1, chunks=1, entities=2, relations=1)
    reopened.delete_documents("kb", [document_id("kb", "a.txt")])
    assert reopened.count() == counts(documents=0, chunks=0, entities=0, relations=0)
    reopened.close()


def test_ladybug_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "graph"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from rag.stores.graph.ladybug import LadybugGraphStore
                store = LadybugGraphStore({str(folder)!r})
                print("open", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreLocked, match=rf"in process {holder.pid};"):
            LadybugGraphStore(folder)
    finally:
        holder.communicate("", timeout=30)


def test_neo4j_write_cypher_runs_unchanged_on_ladybug(tmp_path: Path) -> None:
    """The MERGE statements only Neo4j sends give, on LadybugDB, the graph the COPY path gives."""
    store = LadybugGraphStore(tmp_path / "graph")
    rows = batch_rows(make_batch("kb", "a.txt", [["Acme", "Bob"], ["Acme", "Paris"]], ("Bob>Acme",)))
    for _ in range(2):
        for statement, statement_rows in (
            (neo4j_backend.MERGE_DOCUMENTS, rows.documents),
            (neo4j_backend.MERGE_ENTITIES, rows.entities),
            (neo4j_backend.MERGE_CHUNKS, rows.chunks),
            (neo4j_backend.MERGE_MENTIONS, rows.mentions),
            (neo4j_backend.MERGE_RELATIONS, rows.relations),
        ):
            store._run(statement, rows=statement_rows)
    assert store.count("kb") == counts(documents=1, chunks=2, entities=3, relations=1)
    store.close()


def test_unreachable_neo4j_is_unavailable_naming_the_url_not_the_password() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        Neo4jGraphStore("bolt://127.0.0.1:1", "neo4j", "s3cret-pass", timeout=2.0)
    assert "bolt://127.0.0.1:1" in str(raised.value)
    assert "s3cret-pass" not in str(raised.value)


def test_neo4j_url_with_userinfo_never_shows_its_password() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        open_graph_store("neo4j://neo4j:s3cret-pass@127.0.0.1:1", timeout=2.0)
    assert "neo4j://neo4j:***@127.0.0.1:1" in str(raised.value)
    assert "s3cret-pass" not in str(raised.value)


def test_factory_picks_the_backend_from_the_url(tmp_path: Path) -> None:
    embedded = open_graph_store(str(tmp_path / "graph"))
    assert isinstance(embedded, LadybugGraphStore)
    embedded.close()
    with pytest.raises(StoreUnavailable, match=re.escape("neo4j:bolt+s://127.0.0.1:1")):
        open_graph_store("bolt+s://127.0.0.1:1", timeout=2.0)
    with pytest.raises(StoreUnavailable, match="not supported"):
        open_graph_store("http://localhost:7474")
