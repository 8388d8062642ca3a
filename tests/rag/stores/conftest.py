"""The graph store under test: LadybugDB for real, and Neo4j when RAG_TEST_NEO4J_URL names a server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.stores.graph import GraphStore
from rag.stores.graph.ladybug import LadybugGraphStore
from rag.stores.graph.neo4j import Neo4jGraphStore

NEO4J_URL = os.environ.get("RAG_TEST_NEO4J_URL", "")
NEO4J_SKIP = (
    "no Neo4j server: set RAG_TEST_NEO4J_URL=bolt://host:7687 and RAG_TEST_NEO4J_USER / "
    "RAG_TEST_NEO4J_PASSWORD to run the graph store tests against a Neo4j 5 server"
)


@pytest.fixture(params=["ladybug", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    if request.param == "ladybug":
        opened: GraphStore = LadybugGraphStore(tmp_path / "graph")
    else:
        if not NEO4J_URL:
            pytest.skip(NEO4J_SKIP)
        opened = Neo4jGraphStore(
            NEO4J_URL,
            os.environ.get("RAG_TEST_NEO4J_USER", "neo4j"),
            os.environ.get("RAG_TEST_NEO4J_PASSWORD", ""),
        )
    yield opened
    opened.close()
