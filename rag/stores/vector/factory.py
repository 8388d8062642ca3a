"""Pick the vector backend from the URL in the settings, and name collections per embedding model."""

from __future__ import annotations

from pathlib import Path

from rag.config import url_scheme
from rag.models import slug
from rag.stores.errors import StoreUnavailable
from rag.stores.vector.base import QdrantCluster, VectorStore


def open_vector_store(
    url: str,
    collection: str,
    dimension: int,
    api_key: str | None = None,
    timeout: float = 10.0,
    cluster: QdrantCluster | None = None,
) -> VectorStore:
    """`http(s)://…` is a Qdrant server; a path is a folder for the embedded engine.

    Any other scheme is refused rather than taken as a folder named like a URL. Backends
    are imported on demand: `qdrant-client` alone takes over a second to import. `cluster`
    shapes a server's new collection (one shard, one replica when None).
    """
    scheme = url_scheme(url)
    if scheme in ("http", "https"):
        from rag.stores.vector.qdrant import QdrantVectorStore

        return QdrantVectorStore(
            url, collection, dimension, api_key=api_key, timeout=timeout, cluster=cluster
        )
    if scheme:
        raise StoreUnavailable(f"vector store URL {scheme}://… is not supported: use http(s)://… or a folder")
    from rag.stores.vector.edge import EdgeVectorStore

    return EdgeVectorStore(Path(url).expanduser(), collection, dimension)


def collection_name(model_name: str, dimension: int) -> str:
    """e.g. `chunks__all-minilm-l6-v2__384`: a new model or dimension gets a new collection.

    Lower-case letters, digits and dashes only, so the name is a safe folder name for the
    embedded engine and a valid Qdrant collection name alike.
    """
    name = slug(model_name)
    if not name:
        raise ValueError(f"embedding model name {model_name!r} gives an empty collection name")
    return f"chunks__{name}__{dimension}"
