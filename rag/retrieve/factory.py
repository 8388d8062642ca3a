"""Build the retrievers a question asks for, over the stores that are open."""

from __future__ import annotations

from ingest.embed import Embedder
from rag.retrieve.base import Retriever
from rag.retrieve.graph import GraphRetriever
from rag.retrieve.keyword import KeywordRetriever
from rag.retrieve.vector import VectorRetriever
from rag.stores.factory import Stores

#: the retrievers that need no language model, in the order their results are shown
AVAILABLE = ("vector", "keyword", "graph")


def open_retrievers(stores: Stores, embedder: Embedder, names: list[str]) -> list[Retriever]:
    """One retriever per name; an unknown name is a usage error that lists the known ones."""
    unknown = [name for name in names if name not in AVAILABLE]
    if unknown:
        raise ValueError(f"unknown retriever {', '.join(unknown)}: choose from {', '.join(AVAILABLE)}")
    built: dict[str, Retriever] = {}
    for name in names:
        if name == "vector":
            built[name] = VectorRetriever(stores.vector, stores.sql, embedder)
        elif name == "keyword":
            built[name] = KeywordRetriever(stores.sql)
        elif name == "graph":
            built[name] = GraphRetriever(stores.graph, stores.sql, embedder)
    return list(built.values())
