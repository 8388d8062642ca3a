"""LadybugDB graph store: the embedded default, one database file in a folder of the data dir.

Large writes go through `COPY FROM` temporary CSV files inside one transaction. LadybugDB creates
relationships from UNWIND + MATCH slower and slower as the graph grows (seconds per batch of a few
thousand edges at 50k edges), while COPY resolves endpoints through the primary-key index; a small
batch (an upload of a note) is cheaper as statements, since a COPY's commit costs tens of
milliseconds whatever it carries. Neither accepts duplicate keys, so an upsert writes only
documents and entities not yet stored, and first deletes the batch's chunks (with their edges) when
any of them is already there. Reads run on connections of their own (`_Readers`).
"""

from __future__ import annotations

import contextlib
import csv
import queue
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ladybug

from rag.models import Entity, Fact, GraphBatch
from rag.stores.errors import StoreUnavailable
from rag.stores.graph import cypher
from rag.stores.graph.cypher import Row
from rag.stores.lock import StoreLocked

#: The database file inside the store's folder (LadybugDB keeps `<file>.wal` beside it).
DB_FILE = "graph.lbug"

_SCHEMA = (
    "CREATE NODE TABLE IF NOT EXISTS Document(id STRING, kb STRING, PRIMARY KEY (id))",
    "CREATE NODE TABLE IF NOT EXISTS Chunk(id STRING, kb STRING, document_id STRING, ordinal INT64,"
    " PRIMARY KEY (id))",
    "CREATE NODE TABLE IF NOT EXISTS Entity(id STRING, kb STRING, name STRING, type STRING,"
    " PRIMARY KEY (id))",
    "CREATE REL TABLE IF NOT EXISTS HAS_CHUNK(FROM Document TO Chunk)",
    "CREATE REL TABLE IF NOT EXISTS MENTIONS(FROM Chunk TO Entity)",
    "CREATE REL TABLE IF NOT EXISTS RELATED(FROM Entity TO Entity, type STRING, chunk_id STRING,"
    " document_id STRING)",
)

#: A batch of at most this many rows (nodes and relationships) is written by UNWIND + CREATE, a
#: larger one by COPY. A COPY makes its commit write the table's pages (about 50 ms even for one
#: chunk on a graph of 10k); statements win up to a few dozen chunks (measured on a 10k-chunk
#: graph: 4 chunks 25 ms against 75, 16 chunks (~400 rows) 55 against 95, 64 chunks (~1,600 rows)
#: 140 against 110), and UNWIND + MATCH slows as the graph grows, so the cut stays low.
SMALL_BATCH_ROWS = 500

#: Statements for a small batch, by table; each row is a map with the COPY columns' names.
_CREATE = {
    "Document": "UNWIND $rows AS r CREATE (:Document {id: r.id, kb: r.kb})",
    "Entity": "UNWIND $rows AS r CREATE (:Entity {id: r.id, kb: r.kb, name: r.name, type: r.type})",
    "Chunk": "UNWIND $rows AS r CREATE (:Chunk {id: r.id, kb: r.kb, document_id: r.document_id,"
    " ordinal: r.ordinal})",
    "HAS_CHUNK": "UNWIND $rows AS r MATCH (a:Document {id: r.from}), (b:Chunk {id: r.to})"
    " CREATE (a)-[:HAS_CHUNK]->(b)",
    "MENTIONS": "UNWIND $rows AS r MATCH (a:Chunk {id: r.chunk_id}), (b:Entity {id: r.entity_id})"
    " CREATE (a)-[:MENTIONS]->(b)",
    "RELATED": "UNWIND $rows AS r MATCH (a:Entity {id: r.source_id}), (b:Entity {id: r.target_id})"
    " CREATE (a)-[:RELATED {type: r.type, chunk_id: r.chunk_id, document_id: r.document_id}]->(b)",
}

# Quoted fields may hold commas, quotes and newlines; PARALLEL=false lets the reader cross newlines.
_COPY_OPTIONS = "(HEADER=false, QUOTE='\"', ESCAPE='\"', PARALLEL=false)"

#: The engine's page cache defaults to most of the machine's memory; an embedded default that
#: shares the process with a model must stay small and flat as the graph grows.
BUFFER_POOL_BYTES = 256 * 1024 * 1024

#: Read connections kept open beside the writer's; a reader past this many waits for one to free up.
MAX_READERS = 8

#: LadybugDB's refusal of a second writer: "IO exception: Could not set lock on file : <path>
#: (Lock is held by PID <n>) (Error: Resource temporarily unavailable)".
_LOCK_HOLDER = re.compile(r"Lock is held by PID (\d+)")


class LadybugGraphStore:
    """The graph of one data folder; one process writes it at a time (LadybugDB holds a file lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"ladybug:{self.path}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = ladybug.Database(self.path / DB_FILE, buffer_pool_size=BUFFER_POOL_BYTES)
            self._conn = ladybug.Connection(self._db)
        except (OSError, RuntimeError) as exc:
            holder = _LOCK_HOLDER.search(str(exc))
            if holder:
                raise StoreLocked(
                    f"graph store {self.description} is open for writing in process {holder[1]}; "
                    "wait for it to finish, stop it, or send the work to its HTTP API"
                ) from exc
            raise StoreUnavailable(f"graph store {self.description} cannot be opened: {exc}") from exc
        # The writer's connection runs one transaction at a time; writers take turns on it.
        self._lock = threading.Lock()
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._readers = _Readers(self._db, MAX_READERS)

    def upsert(self, batch: GraphBatch) -> None:
        rows = cypher.batch_rows(batch)
        if not rows.chunks:
            return
        with self._lock, self._transaction():
            replacing = bool(self._stored_ids("Chunk", rows.chunk_ids))
            if replacing:
                self._run(cypher.CLEAR_CHUNKS, ids=rows.chunk_ids)
                self._run(cypher.CLEAR_CHUNK_RELATIONS, ids=rows.chunk_ids)
            tables = {
                "Document": self._new_rows("Document", rows.documents),
                "Entity": self._new_rows("Entity", rows.entities),
                "Chunk": rows.chunks,
                "HAS_CHUNK": [{"from": c["document_id"], "to": c["id"]} for c in rows.chunks],
                "MENTIONS": rows.mentions,
                "RELATED": rows.relations,
            }
            if sum(map(len, tables.values())) <= SMALL_BATCH_ROWS:
                for table, table_rows in tables.items():
                    if table_rows:
                        self._run(_CREATE[table], rows=table_rows)
            else:
                with tempfile.TemporaryDirectory(prefix="rag-graph-") as tmp:
                    for table, table_rows in tables.items():
                        self._copy(Path(tmp), table, table_rows)
            if replacing:
                self._run(cypher.DELETE_ORPHAN_ENTITIES, kb=batch.kb)

    def delete_documents(self, kb: str, document_ids: list[str]) -> None:
        """Remove the documents' chunks, mentions and relations, then entities no longer mentioned."""
        if not document_ids:
            return
        with self._lock, self._transaction():
            for statement in cypher.DELETE_DOCUMENTS:
                self._run(statement, kb=kb, ids=list(document_ids))
            self._run(cypher.DELETE_ORPHAN_ENTITIES, kb=kb)

    def delete_kb(self, kb: str) -> None:
        with self._lock, self._transaction():
            for statement in cypher.DELETE_KB:
                self._run(statement, kb=kb)

    def count(self, kb: str | None = None) -> dict[str, int]:
        """{"entities": n, "relations": n, "chunks": n, "documents": n}"""
        params: Row = {} if kb is None else {"kb": kb}
        return {
            kind: int(self._read(query, params)[0][0]) for kind, query in cypher.count_queries(kb).items()
        }

    def entity_names(self, kb: str) -> list[str]:
        """The display names of a KB's entities, sorted (not in the protocol: for checks and tests)."""
        return [row[0] for row in self._read(cypher.ENTITY_NAMES, {"kb": kb})]

    def find_entities(self, kb: str, normalized_names: list[str]) -> list[Entity]:
        """The entities stored under these normalised names (`ingest.extract.normalize_name`)."""
        return cypher.find_entities(self._read, kb, normalized_names)

    def entity_candidates(self, kb: str, words: list[str], limit: int) -> list[Entity]:
        """At most `limit` entities whose name contains one of the words, case-insensitively."""
        return cypher.entity_candidates(self._read, kb, words, limit)

    def neighbourhood(self, kb: str, entity_ids: list[str], hops: int, limit: int) -> list[Fact]:
        """The relations within `hops` (1 or 2) of the entities, nearest first, at most `limit`."""
        return cypher.neighbourhood(self._read, kb, entity_ids, hops, limit)

    def chunk_mentions(self, kb: str, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""
        return cypher.chunk_mentions(self._read, kb, chunk_ids)

    def entity_mentions(self, kb: str, entity_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every chunk mentioning one of the entities."""
        return cypher.entity_mentions(self._read, kb, entity_ids)

    def entity_degrees(self, kb: str, entity_ids: list[str]) -> dict[str, int]:
        """Entity id → how many chunks of the KB mention it."""
        return cypher.entity_degrees(self._read, kb, entity_ids)

    def health(self) -> None:
        self._read("RETURN 1", {})

    def close(self) -> None:
        """Release the file lock so another process may open the store for writing."""
        with self._lock:
            self._readers.close()
            self._conn.close()
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            # A failed statement has already rolled the transaction back; a Python error has not.
            with contextlib.suppress(RuntimeError):
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _run(self, query: str, **params: Any) -> list[list[Any]]:
        return _rows(self._conn, query, params)

    def _read(self, query: str, params: Row) -> list[list[Any]]:
        """One read on a connection of its own: it sees the last committed write, and runs while an
        ingest's write transaction is open instead of queueing behind it."""
        with self._readers.connection() as connection:
            return _rows(connection, query, params)

    def _stored_ids(self, table: str, ids: list[str]) -> set[str]:
        """Which of the ids are stored; UNWIND + MATCH by key uses the primary-key index (no scan)."""
        found = self._run(f"UNWIND $ids AS i MATCH (n:{table} {{id: i}}) RETURN n.id", ids=ids)
        return {row[0] for row in found}

    def _new_rows(self, table: str, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        stored = self._stored_ids(table, [row["id"] for row in rows])
        return [row for row in rows if row["id"] not in stored]

    def _copy(self, folder: Path, table: str, rows: list[Row]) -> None:
        if not rows:
            return
        path = folder / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            csv.writer(file, quoting=csv.QUOTE_ALL).writerows(row.values() for row in rows)
        literal = path.as_posix().replace("\\", "\\\\").replace("'", "\\'")
        self._run(f"COPY {table} FROM '{literal}' {_COPY_OPTIONS}")


class _Readers:
    """A bounded pool of read connections on one database.

    LadybugDB runs read transactions beside its one write transaction, each on its own connection,
    reading the last committed state, and releases the GIL while a query runs. With every read on
    the writer's connection, a question waited for an upload's whole COPY transaction and for every
    other question's graph reads; under a mixed load this was the longest wait of a retrieval.
    A reader runs on one thread: the connections share the database's scheduler, and a read using
    every core held a write up for seconds (4.6 s against 0.1 s on one thread, measured)."""

    def __init__(self, db: ladybug.Database, most: int) -> None:
        self._db = db
        self._most = most
        #: every connection opened, while none is in use (each read puts its own back)
        self._idle: queue.LifoQueue[ladybug.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(most)
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[ladybug.Connection]:
        with self._slots:
            if self._closed:
                raise StoreUnavailable("graph store is closed")
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                connection = ladybug.Connection(self._db)
                connection.set_max_threads_for_exec(1)
            try:
                yield connection
            finally:
                self._idle.put(connection)

    def close(self) -> None:
        """Close every connection once the reads in progress have finished."""
        self._closed = True
        for _ in range(self._most):
            self._slots.acquire()
        while not self._idle.empty():
            self._idle.get_nowait().close()
        for _ in range(self._most):
            self._slots.release()


def _rows(connection: ladybug.Connection, query: str, params: Row) -> list[list[Any]]:
    result = connection.execute(query, params)
    assert not isinstance(result, list), "one statement per call"
    return result.get_all()
