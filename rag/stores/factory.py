"""Open the three stores the settings name, once, write across them and close them together.

Deletes run in the one order that keeps the ledger truthful: the relational ledger is the source of
truth, so it is written first and forgotten last. A crash at any point leaves rows that say more
than the other stores hold (a re-run finishes the work), never points or nodes that no row describes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from rag.config import Settings, mask_url, url_scheme
from rag.models import EmbeddingModelInfo
from rag.stores.errors import DiskFull
from rag.stores.graph import GraphStore, open_graph_store
from rag.stores.lock import DataDirLock
from rag.stores.reconnecting import open_or_reconnect
from rag.stores.space import require_free_space
from rag.stores.sql import LedgerEntry, SqlStore
from rag.stores.vector import QdrantCluster, VectorStore, collection_name, open_vector_store

T = TypeVar("T")


@dataclass
class Stores:
    """The relational ledger, the vector store of the configured embedding model, and the graph."""

    settings: Settings
    embedding: EmbeddingModelInfo
    sql: SqlStore
    vector: VectorStore
    graph: GraphStore
    lock: DataDirLock | None = field(default=None, repr=False)

    @property
    def collection(self) -> str:
        """The vector collection of the configured embedding model (`vectors_in` in the ledger)."""
        return collection_name(self.embedding.slug, self.embedding.dimension)

    def status(self, kb: str) -> dict[str, Any]:
        """What each store holds for one KB, and its recent failures (`rag status`)."""
        stats = self.sql.stats(kb)
        graph = self.graph.count(kb)
        learned = self.sql.learned_weights(kb)
        return {
            "kb": kb,
            "documents": stats.documents,
            "chunks": stats.chunks,
            "vectors": self.vector.count(kb),
            "embedding_model": self.embedding.name,
            "collection": self.collection,
            #: chunks per vector collection (one per embedding model), as the ledger records them:
            #: a KB ingested under another model shows there until `rag ingest` embeds it again
            "vectors_by_collection": self.sql.vectors_by_collection(kb),
            "entities": graph["entities"],
            "relations": graph["relations"],
            "tables": stats.tables,
            "failed": [asdict(failure) for failure in stats.failed],
            #: the fusion weights the KB learned (`rag.retrieve.calibrate`); empty until it has
            "fusion_weights": learned.weights if learned is not None else {},
        }

    def require_space(self) -> None:
        """Raise DiskFull when an embedded store's folder is short of space (`rag.stores.space`)."""
        require_free_space(
            self.settings.embedded_folders,
            self.settings.min_free_mb,
            then="run rag ingest again; it resumes where it stopped",
        )

    def delete_documents(self, entries: Iterable[LedgerEntry]) -> int:
        """Remove documents from every store: vectors and graph first, the ledger rows last."""
        by_kb: dict[str, list[str]] = defaultdict(list)
        for entry in entries:
            by_kb[entry.kb].append(entry.id)
        for kb, ids in by_kb.items():
            self.vector.delete_documents(kb, ids)
            self.graph.delete_documents(kb, ids)
            self.sql.delete_documents(ids)
        return sum(len(ids) for ids in by_kb.values())

    def delete_kb(self, kb: str) -> None:
        """Remove a knowledge base from every store, the ledger last."""
        self.vector.delete_kb(kb)
        self.graph.delete_kb(kb)
        self.sql.delete_kb(kb)

    def close(self) -> None:
        for store in (self.graph, self.vector, self.sql):
            store.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_stores(settings: Settings, embedding: EmbeddingModelInfo, *, reconnect: bool = False) -> Stores:
    """Open every store, the vector collection the one of `embedding` (`rag.embed.model_info`);
    raises StoreUnavailable / StoreLocked with a clear message.

    When any store is an embedded file, the data folder is locked first so that a second
    writing process fails fast with the holder's name instead of corrupting a store. With
    `reconnect` (`rag serve`), a Qdrant or Neo4j server that does not answer does not stop the
    opening: that store joins when its server does (`rag.stores.reconnecting`).
    """
    lock = None
    if settings.uses_embedded_store:
        lock = DataDirLock(settings.data_dir)
        lock.acquire()
        try:
            require_free_space(settings.embedded_folders, settings.min_free_mb / 2, then="try again")
        except DiskFull:
            lock.release()
            raise
    opened: list[object] = []
    try:
        sql = SqlStore(
            settings.resolved_sql_url,
            timeout=settings.store_timeout_s,
            reader_url=settings.sql_reader_url,
            replica_url=settings.sql_replica_url,
        )
        opened.append(sql)
        vector_url, graph_url = settings.resolved_vector_url, settings.resolved_graph_url
        vector = _server_store(
            lambda: open_vector_store(
                vector_url,
                collection_name(embedding.slug, embedding.dimension),
                embedding.dimension,
                api_key=settings.vector_api_key.get_secret_value() or None,
                timeout=settings.store_timeout_s,
                cluster=QdrantCluster(
                    settings.vector_shards, settings.vector_replicas, settings.vector_write_consistency
                ),
            ),
            f"vector store {mask_url(vector_url)}",
            reconnect and bool(url_scheme(vector_url)),
        )
        opened.append(vector)
        graph = _server_store(
            lambda: open_graph_store(
                graph_url,
                user=settings.neo4j_user,
                password=settings.neo4j_password.get_secret_value(),
                timeout=settings.store_timeout_s,
            ),
            f"graph store {mask_url(graph_url)}",
            reconnect and bool(url_scheme(graph_url)),
        )
    except BaseException:
        for store in reversed(opened):
            store.close()  # type: ignore[attr-defined]
        if lock is not None:
            lock.release()
        raise
    return Stores(settings, embedding, sql, vector, graph, lock)


def _server_store(open_store: Callable[[], T], description: str, reconnect: bool) -> T:
    """The store `open_store` opens; with `reconnect`, one standing in for it until it can."""
    return open_or_reconnect(open_store, description) if reconnect else open_store()
