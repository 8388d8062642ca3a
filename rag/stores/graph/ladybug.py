"""LadybugDB graph store: the embedded default, one database file in a folder of the data dir.

Writes go through `COPY FROM` temporary CSV files inside one transaction. LadybugDB creates
relationships from UNWIND + MATCH slower and slower as the graph grows (seconds per batch of a few
thousand edges at 50k edges), while COPY resolves endpoints through the primary-key index. COPY
refuses duplicate keys, so an upsert copies only documents and entities not yet stored, and first
deletes the batch's chunks (with their edges) when any of them is already there.
"""

from __future__ import annotations

import contextlib
import csv
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

# Quoted fields may hold commas, quotes and newlines; PARALLEL=false lets the reader cross newlines.
_COPY_OPTIONS = "(HEADER=false, QUOTE='\"', ESCAPE='\"', PARALLEL=false)"

#: The engine's page cache defaults to most of the machine's memory; an embedded default that
#: shares the process with a model must stay small and flat as the graph grows.
BUFFER_POOL_BYTES = 256 * 1024 * 1024

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
        # One connection runs one transaction at a time; threads of the server take turns.
        self._lock = threading.Lock()
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def upsert(self, batch: GraphBatch) -> None:
        rows = cypher.batch_rows(batch)
        if not rows.chunks:
            return
        with self._lock, self._transaction(), tempfile.TemporaryDirectory(prefix="rag-graph-") as tmp:
            folder = Path(tmp)
            replacing = bool(self._stored_ids("Chunk", rows.chunk_ids))
            if replacing:
                self._run(cypher.CLEAR_CHUNKS, ids=rows.chunk_ids)
                self._run(cypher.CLEAR_CHUNK_RELATIONS, ids=rows.chunk_ids)
            self._copy(folder, "Document", self._new_rows("Document", rows.documents))
            self._copy(folder, "Entity", self._new_rows("Entity", rows.entities))
            self._copy(folder, "Chunk", rows.chunks)
            self._copy(folder, "HAS_CHUNK", [{"from": c["document_id"], "to": c["id"]} for c in rows.chunks])
            self._copy(folder, "MENTIONS", rows.mentions)
            self._copy(folder, "RELATED", rows.relations)
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
        params = {} if kb is None else {"kb": kb}
        with self._lock:
            return {
                kind: int(self._run(query, **params)[0][0])
                for kind, query in cypher.count_queries(kb).items()
            }

    def entity_names(self, kb: str) -> list[str]:
        """The display names of a KB's entities, sorted (not in the protocol: for checks and tests)."""
        with self._lock:
            return [row[0] for row in self._run(cypher.ENTITY_NAMES, kb=kb)]

    def find_entities(self, kb: str, normalized_names: list[str]) -> list[Entity]:
        """The entities stored under these normalised names (`ingest.extract.normalize_name`)."""
        with self._lock:
            return cypher.find_entities(self._read, kb, normalized_names)

    def entity_candidates(self, kb: str, words: list[str], limit: int) -> list[Entity]:
        """At most `limit` entities whose name contains one of the words, case-insensitively."""
        with self._lock:
            return cypher.entity_candidates(self._read, kb, words, limit)

    def neighbourhood(self, kb: str, entity_ids: list[str], hops: int, limit: int) -> list[Fact]:
        """The relations within `hops` (1 or 2) of the entities, nearest first, at most `limit`."""
        with self._lock:
            return cypher.neighbourhood(self._read, kb, entity_ids, hops, limit)

    def chunk_mentions(self, kb: str, chunk_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every entity the chunks mention."""
        with self._lock:
            return cypher.chunk_mentions(self._read, kb, chunk_ids)

    def entity_mentions(self, kb: str, entity_ids: list[str]) -> list[tuple[str, str]]:
        """(chunk id, entity id) for every chunk mentioning one of the entities."""
        with self._lock:
            return cypher.entity_mentions(self._read, kb, entity_ids)

    def entity_degrees(self, kb: str, entity_ids: list[str]) -> dict[str, int]:
        """Entity id → how many chunks of the KB mention it."""
        with self._lock:
            return cypher.entity_degrees(self._read, kb, entity_ids)

    def health(self) -> None:
        with self._lock:
            self._run("RETURN 1")

    def close(self) -> None:
        """Release the file lock so another process may open the store for writing."""
        with self._lock:
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
        result = self._conn.execute(query, params)
        assert not isinstance(result, list), "one statement per call"
        return result.get_all()

    def _read(self, query: str, params: Row) -> list[list[Any]]:
        return self._run(query, **params)

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
