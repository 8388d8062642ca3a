"""Chunk vectors: the protocol and the factory that picks a backend (edge.py, qdrant.py) from a URL."""

from rag.stores.vector.base import QdrantCluster, VectorStore
from rag.stores.vector.factory import collection_name, open_vector_store

__all__ = ["QdrantCluster", "VectorStore", "collection_name", "open_vector_store"]
