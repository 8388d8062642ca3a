"""Neo4j graph store: the production backend, over Bolt with the official driver.

Writes are UNWIND batches of MERGE in one managed transaction (retried by the driver on transient
errors); deletes and counts are the Cypher LadybugDB runs too (`cypher.py`). Every call carries a
timeout, and an unreachable or refusing server becomes `StoreUnavailable` naming the URL only.

On a cluster (`neo4j://` routing URL), writes are write transactions the driver sends to the
leader and reads are read transactions it spreads over the followers and read replicas. Every
session of a store shares one bookmark manager, so a read waits until the member it lands on
holds the store's own last write: an ingest's retrieval check and the graph it just wrote agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, LiteralString, TypeVar
from urllib.parse import urlsplit

import neo4j
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    ConnectionAcquisitionTimeoutError,
    DatabaseUnavailable,
    ServiceUnavailable,
    SessionExpired,
)

from rag.config import mask_url
from rag.models import Entity, Fact, GraphBatch
from rag.stores.errors import StoreUnavailable
from rag.stores.graph import cypher
from rag.stores.graph.cypher import BatchRows, Row, Runner

_T = TypeVar("_T")

SCHEMA: tuple[LiteralString, ...] = (
    "CREATE CONSTRAINT document_id IF NOT EXISTS FOR (n:Document) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT chunk_id IF NOT EXISTS FOR (n:Chunk) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX entity_kb_name IF NOT EXISTS FOR (n:Entity) ON (n.kb, n.name)",
    "CREATE INDEX entity_kb IF NOT EXISTS FOR (n:Entity) ON (n.kb)",
    "CREATE INDEX document_kb IF NOT EXISTS FOR (n:Document) ON (n.kb)",
    "CREATE INDEX chunk_kb IF NOT EXISTS FOR (n:Chunk) ON (n.kb)",
    "CREATE INDEX chunk_document IF NOT EXISTS FOR (n:Chunk) ON (n.document_id)",
    "CREATE INDEX related_chunk IF NOT EXISTS FOR ()-[r:RELATED]-() ON (r.chunk_id)",
    "CREATE INDEX related_document IF NOT EXISTS FOR ()-[r:RELATED]-() ON (r.document_id)",
)

# An entity keeps the display name and type it was first stored with; later documents only link to it.
MERGE_DOCUMENTS = "UNWIND $rows AS row MERGE (d:Document {id: row.id}) ON CREATE SET d.kb = row.kb"
MERGE_ENTITIES = (
    "UNWIND $rows AS row MERGE (e:Entity {id: row.id})"
    " ON CREATE SET e.kb = row.kb, e.name = row.name, e.type = row.type"
)
MERGE_CHUNKS = (
    "UNWIND $rows AS row MATCH (d:Document {id: row.document_id})"
    " MERGE (c:Chunk {id: row.id})"
    " SET c.kb = row.kb, c.document_id = row.document_id, c.ordinal = row.ordinal"
    " MERGE (d)-[:HAS_CHUNK]->(c)"
)
MERGE_MENTIONS = (
    "UNWIND $rows AS row MATCH (c:Chunk {id: row.chunk_id}), (e:Entity {id: row.entity_id})"
    " MERGE (c)-[:MENTIONS]->(e)"
)
MERGE_RELATIONS = (
    "UNWIND $rows AS row MATCH (a:Entity {id: row.source_id}), (b:Entity {id: row.target_id})"
    " MERGE (a)-[r:RELATED {type: row.type, chunk_id: row.chunk_id}]->(b) SET r.document_id = row.document_id"
)

#: Errors that mean "the server is not there for us", as opposed to a bad query.
_UNAVAILABLE = (
    AuthError,
    ConfigurationError,
    ConnectionAcquisitionTimeoutError,
    DatabaseUnavailable,
    ServiceUnavailable,
    SessionExpired,
    OSError,
)


class Neo4jGraphStore:
    """The graph in a Neo4j 5 server; many processes may write it at once."""

    def __init__(self, url: str, user: str, password: str, timeout: float = 10.0) -> None:
        self.description = f"neo4j:{mask_url(url)}"
        self._timeout = timeout
        self._url = url
        # Driver messages may quote the URL, userinfo included; these are scrubbed from our errors.
        self._secrets = tuple(secret for secret in (password, urlsplit(url).password) if secret)
        with self._unavailable_as_store_error():
            self._driver = neo4j.GraphDatabase.driver(
                url,
                auth=(user, password),
                connection_timeout=timeout,
                connection_write_timeout=timeout,
                connection_acquisition_timeout=timeout,
                max_transaction_retry_time=timeout,
            )
        #: the bookmarks of this store's writes, which its reads wait for on a cluster
        self._bookmarks = neo4j.GraphDatabase.bookmark_manager()
        try:
            with self._unavailable_as_store_error():
                self._driver.verify_connectivity()
                for statement in SCHEMA:
                    self._driver.execute_query(neo4j.Query(statement, timeout=timeout))
        except BaseException:
            self._driver.close()
            raise

    def upsert(self, batch: GraphBatch) -> None:
        rows = cypher.batch_rows(batch)
        if rows.chunks:
            self._write(_upsert_rows, rows, batch.kb)

    def delete_documents(self, kb: str, document_ids: list[str]) -> None:
        """Remove the documents' chunks, mentions and relations, then entities no longer mentioned."""
        if document_ids:
            self._write(_delete_documents, kb, list(document_ids))

    def delete_kb(self, kb: str) -> None:
        self._write(_run_all, cypher.DELETE_KB, {"kb": kb})

    def count(self, kb: str | None = None) -> dict[str, int]:
        """{"entities": n, "relations": n, "chunks": n, "documents": n}"""
        return self._read(_count, kb)

    def entity_names(self, kb: str) -> list[str]:
        """The display names of a KB's entities, sorted (not in the protocol: for checks and tests)."""
        return self._read(_entity_names, kb)

    def find_entities(self, kb: str, normalized_names: list[str]) -> list[Entity]:
        """The entities stored under these normalised names (`ingest.extract.normalize_name`)."""
        return self._read(_with_runner, cypher.find_entities, kb, normalized_names)

    def entity_candidates(self, kb: str, words: list[str], limit: int) -> list[Entity]:
        """At most `limit` entities whose name contains one of the words, case-insensitively."""
        return self._read(_with_runner, cypher.entity_candidates, kb, words, limit)

    def neighbourhood(self, kb: str, entity_ids: list[str], hops: int, limit: int) -> list[Fact]:
        """The relations within `hops` (1 or 2) of the entities, nearest first, at most `limit`."""
        return self._read(_with_runner, cypher.neighbourhood, kb, entity_ids, hops, limit)

    def chunk_mentions(self, kb: str, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""
        return self._read(_with_runner, cypher.chunk_mentions, kb, chunk_ids)

    def entity_mentions(self, kb: str, entity_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every chunk mentioning one of the entities."""
        return self._read(_with_runner, cypher.entity_mentions, kb, entity_ids)

    def entity_degrees(self, kb: str, entity_ids: list[str]) -> dict[str, int]:
        """Entity id → how many chunks of the KB mention it."""
        return self._read(_with_runner, cypher.entity_degrees, kb, entity_ids)

    def health(self) -> None:
        with self._unavailable_as_store_error():
            self._driver.verify_connectivity()

    def close(self) -> None:
        self._driver.close()

    def _write(self, work: Callable[..., _T], *args: Any) -> _T:
        with self._unavailable_as_store_error(), self._session() as session:
            return session.execute_write(neo4j.unit_of_work(timeout=self._timeout)(work), *args)

    def _read(self, work: Callable[..., _T], *args: Any) -> _T:
        with self._unavailable_as_store_error(), self._session() as session:
            return session.execute_read(neo4j.unit_of_work(timeout=self._timeout)(work), *args)

    def _session(self) -> neo4j.Session:
        return self._driver.session(bookmark_manager=self._bookmarks)

    @contextlib.contextmanager
    def _unavailable_as_store_error(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            reason = f"{type(exc).__name__}: {exc}".replace(self._url, mask_url(self._url))
            for secret in self._secrets:
                reason = reason.replace(secret, "***")
            # Not chained: a logged traceback would print the driver's unscrubbed message.
            raise StoreUnavailable(f"graph store {self.description} unavailable: {reason}") from None


def _upsert_rows(tx: neo4j.ManagedTransaction, rows: BatchRows, kb: str) -> None:
    """Replace the batch's chunks as LadybugDB does: clear them, write the rows, drop orphaned entities."""
    cleared = tx.run(cypher.CLEAR_CHUNKS, ids=rows.chunk_ids).consume().counters.nodes_deleted
    tx.run(cypher.CLEAR_CHUNK_RELATIONS, ids=rows.chunk_ids).consume()
    for statement, batch_rows in (
        (MERGE_DOCUMENTS, rows.documents),
        (MERGE_ENTITIES, rows.entities),
        (MERGE_CHUNKS, rows.chunks),
        (MERGE_MENTIONS, rows.mentions),
        (MERGE_RELATIONS, rows.relations),
    ):
        if batch_rows:
            tx.run(statement, rows=batch_rows).consume()
    if cleared:
        tx.run(cypher.DELETE_ORPHAN_ENTITIES, kb=kb).consume()


def _delete_documents(tx: neo4j.ManagedTransaction, kb: str, document_ids: list[str]) -> None:
    _run_all(tx, cypher.DELETE_DOCUMENTS, {"kb": kb, "ids": document_ids})
    tx.run(cypher.DELETE_ORPHAN_ENTITIES, kb=kb).consume()


def _run_all(tx: neo4j.ManagedTransaction, statements: tuple[str, ...], params: dict[str, Any]) -> None:
    for statement in statements:
        tx.run(statement, params).consume()


def _with_runner(tx: neo4j.ManagedTransaction, read: Callable[..., _T], *args: Any) -> _T:
    """Run one of `cypher`'s shared reads inside this transaction."""

    def run(query: str, params: Row) -> list[list[Any]]:
        return [list(record.values()) for record in tx.run(query, params)]

    runner: Runner = run
    return read(runner, *args)


def _entity_names(tx: neo4j.ManagedTransaction, kb: str) -> list[str]:
    return [record[0] for record in tx.run(cypher.ENTITY_NAMES, kb=kb)]


def _count(tx: neo4j.ManagedTransaction, kb: str | None) -> dict[str, int]:
    params = {} if kb is None else {"kb": kb}
    queries = cypher.count_queries(kb)
    return {kind: tx.run(query, params).single(strict=True)[0] for kind, query in queries.items()}
