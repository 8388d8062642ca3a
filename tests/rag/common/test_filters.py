"""The filter grammar, its matcher, and the same answer from every backend for the same filter."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.common.filters import Condition, filterable, matches, parse
from rag.extract.names import normalize_name
from rag.models import (
    Chunk,
    Document,
    Entity,
    GraphBatch,
    Mention,
    VectorPoint,
    chunk_id,
    document_id,
    entity_id,
)
from rag.retrieve.graph import GraphRetriever
from rag.retrieve.keyword import KeywordRetriever
from rag.stores.graph import GraphStore, open_graph_store
from rag.stores.sql import SqlStore
from rag.stores.vector.base import VectorStore
from rag.stores.vector.edge import EdgeVectorStore
from rag.stores.vector.qdrant import QdrantVectorStore

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")

KB = "f"
#: each chunk's metadata: types that look alike (true and 1, 3 and 3.0 and "3"), a dotted key,
#: a list and an object (which no filter matches), and a missing key
METADATA: list[dict[str, Any]] = [
    {"lang": "en", "page": 1, "draft": True, "score": 3, "a.b": "x"},
    {"lang": "de", "page": 2, "draft": False, "score": 3.0, "tags": ["x"]},
    {"lang": "fr", "page": 3, "draft": 1, "score": "3", "a": {"b": "x"}},
    {"lang": "类别", "page": 1, "draft": 0, "score": 3.5, "a.b": "y"},
    {"page": 2},
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"lang": "de"},
    {"lang": ["de", "fr"]},
    {"lang": "类别"},
    {"lang": []},
    {"lang": "nowhere"},
    {"page": 1},
    {"page": 1.0},
    {"page": [1, 3]},
    {"draft": True},
    {"draft": False},
    {"draft": 1},
    {"draft": [True, 0]},
    {"score": 3},
    {"score": 3.0},
    {"score": "3"},
    {"score": [3.5, "3"]},
    {"a.b": "x"},
    {"tags": "x"},
    {"lang": "en", "page": 2},
    {"lang": ["en", "de"], "page": [1, 2]},
    {"ordinal": 2},
    {"ordinal": True},
    {"ordinal": "2"},
    {"document_id": "nowhere"},
    {"kb": KB},
]


def chunks_of(doc: str) -> list[Chunk]:
    return [
        Chunk(chunk_id(doc, n), doc, KB, n, f"alice moreau part {n}", 4, metadata)
        for n, metadata in enumerate(METADATA)
    ]


DOC = document_id(KB, "doc.txt")
CHUNKS = chunks_of(DOC)


def expected(filters: dict[str, Any]) -> set[int]:
    """The ordinals the grammar keeps, worked out by hand from the docstring's rules."""
    return {c.ordinal for c in CHUNKS if matches(parse(filters), filterable(c))}


def test_a_plain_value_matches_equal_json_values_only() -> None:
    assert expected({"lang": "de"}) == {1}
    assert expected({"page": 1.0}) == {0, 3}  # numbers compare by value
    assert expected({"draft": True}) == {0}  # true is not 1
    assert expected({"draft": 1}) == {2}
    assert expected({"score": 3}) == {0, 1}  # 3 and 3.0, not "3"
    assert expected({"score": "3"}) == {2}


def test_a_list_matches_any_item_and_an_empty_list_nothing() -> None:
    assert expected({"lang": ["de", "fr"]}) == {1, 2}
    assert expected({"draft": [True, 0]}) == {0, 3}
    assert expected({"lang": []}) == set()


def test_keys_are_literal_and_non_scalar_fields_match_nothing() -> None:
    assert expected({"a.b": "x"}) == {0}
    assert expected({"tags": "x"}) == set()
    assert expected({"lang": "en"}) == {0}
    assert expected({"lang": "en", "page": 2}) == set()  # every key must match
    assert expected({}) == {0, 1, 2, 3, 4}


def test_columns_are_fields_and_win_over_metadata() -> None:
    chunk = Chunk("c", "d", KB, 7, "text", 1, {"ordinal": 1, "kb": "other", "note": None, "n": [1]})
    assert filterable(chunk) == {"ordinal": 7, "kb": KB, "document_id": "d"}
    assert matches(parse({"ordinal": 7}), filterable(chunk))
    assert not matches(parse({"ordinal": True}), {"ordinal": 1})


def test_parse_splits_values_by_type_and_refuses_what_the_grammar_lacks() -> None:
    parsed = parse({"k": ["a", 1, 2.5, False]})
    assert parsed.conditions == (Condition("k", texts=("a",), numbers=(1, 2.5), flags=(False,)),)
    assert parsed.on("k") is parsed.conditions[0]
    assert parsed.on("other") is None
    assert not parse(None)
    assert not parse({})
    for bad in ({"k": {"nested": 1}}, {"k": None}, {"k": [["a"]]}, {"k": math.nan}):
        with pytest.raises(ValueError, match="filter on 'k': unsupported value"):
            parse(bad)
    with pytest.raises(ValueError, match="cannot contain"):
        parse({'a"b': 1})
    with pytest.raises(ValueError, match="non-empty string"):
        parse({"": 1})


# ------------------------------------------------------------------ every backend agrees


@pytest.fixture(scope="module")
def backends(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SqlStore, list[VectorStore], GraphStore]]:
    """The same chunks in SQLite (with their full text), the embedded vector store, Qdrant's
    local mode (the server backend's code path) and the embedded graph, where every chunk
    mentions the entity "Alice Moreau"."""
    folder: Path = tmp_path_factory.mktemp("filters")
    sql = SqlStore(f"sqlite:///{folder / 'rag.sqlite3'}")
    vectors: list[VectorStore] = [
        EdgeVectorStore(folder / "vectors", "c", 2),
        QdrantVectorStore(str(folder / "qdrant"), "c", 2, local=True),
    ]
    graph = open_graph_store(str(folder / "graph"))
    sql.create_kb(KB)
    document = Document(id=DOC, kb=KB, source="doc.txt", content_hash="0" * 64, mime="text/plain")
    sql.store_document(document, CHUNKS, [])
    for vector in vectors:
        vector.upsert([VectorPoint(c.id, [1.0, 0.1 * c.ordinal], filterable(c)) for c in CHUNKS])
    alice = Entity(entity_id(KB, normalize_name("Alice Moreau")), KB, "Alice Moreau", "person")
    graph.upsert(GraphBatch(KB, CHUNKS, [alice], [Mention(c.id, alice.id) for c in CHUNKS]))
    yield sql, vectors, graph
    graph.close()
    for vector in vectors:
        vector.close()
    sql.close()


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_every_backend_keeps_the_chunks_the_grammar_keeps(
    backends: tuple[SqlStore, list[VectorStore], GraphStore], filters: dict[str, Any]
) -> None:
    sql, vectors, graph = backends
    ordinal = {c.id: c.ordinal for c in CHUNKS}
    found = {
        **{v.description: {ordinal[h.id] for h in v.search([1.0, 0.0], KB, 50, filters)} for v in vectors},
        "keyword": {ordinal[h.chunk_id] for h in KeywordRetriever(sql).retrieve("moreau", KB, 50, filters)},
        "graph": {
            ordinal[h.chunk_id] for h in GraphRetriever(graph, sql).retrieve("Alice Moreau", KB, 50, filters)
        },
    }
    assert found == dict.fromkeys(found, expected(filters))
