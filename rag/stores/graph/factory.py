"""Pick the graph backend from the URL in the settings."""

from __future__ import annotations

from pathlib import Path

from rag.config import url_scheme
from rag.stores.errors import StoreUnavailable
from rag.stores.graph.base import GraphStore

#: The driver's schemes: `+s` verifies TLS against system CAs, `+ssc` accepts a self-signed certificate.
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def open_graph_store(url: str, user: str = "neo4j", password: str = "", timeout: float = 10.0) -> GraphStore:
    """`bolt://…`/`neo4j://…` is a Neo4j server; a path is a folder for the embedded LadybugDB.

    Any other scheme is refused rather than taken as a folder named like a URL. Backends
    are imported on demand, so the embedded default never pays for the Neo4j driver.
    """
    scheme = url_scheme(url)
    if scheme in NEO4J_SCHEMES:
        from rag.stores.graph.neo4j import Neo4jGraphStore

        return Neo4jGraphStore(url, user, password, timeout)
    if scheme:
        raise StoreUnavailable(
            f"graph store URL {scheme}://… is not supported: use bolt://, neo4j:// or a folder"
        )
    from rag.stores.graph.ladybug import LadybugGraphStore

    return LadybugGraphStore(Path(url).expanduser())
