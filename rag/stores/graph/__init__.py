"""Entities, relations and mentions: the protocol and the factory that picks a backend
(ladybug.py, neo4j.py) from a URL."""

from rag.stores.graph.base import GraphStore
from rag.stores.graph.factory import open_graph_store

__all__ = ["GraphStore", "open_graph_store"]
