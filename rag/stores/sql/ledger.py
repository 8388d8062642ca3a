"""The ledger: knowledge bases, their documents with each one's state, and the documents' chunks.

Every write of a document is one transaction (its old version, chunks, tables and catalogue rows
go; the new ones land), so the ledger never describes half a document. Batches keep both the
round trips and SQLite's bound-parameter limit in check.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rag.models import Chunk, Document, DocumentStatus, Table
from rag.stores.sql import catalogue, uploads
from rag.stores.sql import kb_tables as kb_namespace
from rag.stores.sql.fulltext import search_text
from rag.stores.sql.replica import ReadRouter
from rag.stores.sql.results import DocumentDetails, KnowledgeBase, LedgerEntry
from rag.stores.sql.schema import chunks, documents, knowledge_bases

#: rows per executemany and ids per IN (...) list: large enough to amortise round trips,
#: small enough for SQLite's bound-parameter limit
_BATCH = 500
#: the columns of a `Chunk`, in its field order
_CHUNK = (
    chunks.c.id,
    chunks.c.document_id,
    chunks.c.kb,
    chunks.c.ordinal,
    chunks.c.text,
    chunks.c.token_count,
    chunks.c.metadata,
)
#: the columns of a `LedgerEntry`, in its field order
_LEDGER = (
    documents.c.id,
    documents.c.kb,
    documents.c.source,
    documents.c.content_hash,
    documents.c.status,
    documents.c.chunk_count,
    documents.c.vectors_in,
)
#: the columns of a `DocumentDetails`: what the API shows of a document
_DETAILS = (
    documents.c.id,
    documents.c.kb,
    documents.c.source,
    documents.c.status,
    documents.c.stage,
    documents.c.error,
    documents.c.size,
    documents.c.chunk_count,
    documents.c.chunks_indexed,
    documents.c.metadata,
    documents.c.created_at,
    documents.c.updated_at,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _batches(items: list[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    """Knowledge bases, documents and chunks on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: with a standby (`RAG_SQL_REPLICA_URL`), what picks the engine of each retrieval read
        self.reads: ReadRouter | None = None

    def read_connection(self) -> AbstractContextManager[Connection]:
        """A connection for a read that retrieval makes on every question: to a standby that has
        replayed this process's writes (`replica.py`), else to the primary. Reads that decide
        what to write (the ledger before an ingest, a document's state) stay on `engine`."""
        return self.reads.connect() if self.reads else self.engine.connect()

    # ---------------------------------------------------------- knowledge bases
    def create_kb(self, name: str, description: str = "") -> bool:
        """Create the knowledge base; False when it already existed."""
        with self.engine.begin() as conn:
            if conn.scalar(sa.select(knowledge_bases.c.name).where(knowledge_bases.c.name == name)):
                return False
            conn.execute(
                knowledge_bases.insert().values(name=name, description=description, created_at=_now())
            )
        return True

    def kb_exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            query = sa.select(knowledge_bases.c.name).where(knowledge_bases.c.name == name)
            return conn.scalar(query) is not None

    def list_kbs(self) -> list[KnowledgeBase]:
        query = (
            sa.select(
                knowledge_bases.c.name,
                knowledge_bases.c.description,
                knowledge_bases.c.created_at,
                sa.func.count(documents.c.id).label("documents"),
            )
            .select_from(knowledge_bases.outerjoin(documents))
            .group_by(knowledge_bases.c.name, knowledge_bases.c.description, knowledge_bases.c.created_at)
            .order_by(knowledge_bases.c.name)
        )
        with self.engine.connect() as conn:
            return [KnowledgeBase(*row) for row in conn.execute(query)]

    def delete_kb(self, name: str) -> None:
        """Drop the KB's tables and namespace, then its rows (documents and chunks cascade)."""
        with self.engine.begin() as conn:
            kb_namespace.drop_kb_namespace(conn, name)
            conn.execute(chunks.delete().where(chunks.c.kb == name))
            conn.execute(knowledge_bases.delete().where(knowledge_bases.c.name == name))
            uploads.forget(conn, kb=name)  # its uploads went with the cascade

    # ---------------------------------------------------------------- documents
    def ledger(self, kb: str, sources: list[str]) -> dict[str, LedgerEntry]:
        """The ledger entries of these sources, keyed by source."""
        found: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            for batch in _batches(sources):
                query = sa.select(*_LEDGER).where(documents.c.kb == kb, documents.c.source.in_(batch))
                for row in conn.execute(query):
                    found[row.source] = LedgerEntry(*row)
        return found

    def documents_in_kb(self, kb: str) -> list[LedgerEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_LEDGER).where(documents.c.kb == kb))
            return [LedgerEntry(*row) for row in rows]

    def document_details(self, ids: list[str]) -> list[DocumentDetails]:
        """What a client may see of documents (state, error, size, times), in the order of `ids`."""
        query = sa.select(*_DETAILS).where(documents.c.id.in_(ids))
        with self.engine.connect() as conn:
            found = {row.id: DocumentDetails(*row) for row in conn.execute(query)}
        return [found[i] for i in ids if i in found]

    def list_documents(self, kb: str, offset: int, limit: int) -> tuple[int, list[DocumentDetails]]:
        """One page of a KB's documents, oldest first, and how many there are in all."""
        query = (
            sa.select(*_DETAILS)
            .where(documents.c.kb == kb)
            .order_by(documents.c.created_at, documents.c.id)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            total = conn.scalar(sa.select(sa.func.count()).where(documents.c.kb == kb)) or 0
            return total, [DocumentDetails(*row) for row in conn.execute(query)]

    def find_documents(self, ref: str, kb: str | None = None) -> list[LedgerEntry]:
        """Documents whose id or source is `ref` (optionally within one KB)."""
        query = sa.select(*_LEDGER).where(sa.or_(documents.c.id == ref, documents.c.source == ref))
        if kb is not None:
            query = query.where(documents.c.kb == kb)
        with self.engine.connect() as conn:
            return [LedgerEntry(*row) for row in conn.execute(query)]

    def documents_with_status(self, kb: str, statuses: Iterable[str]) -> list[LedgerEntry]:
        query = sa.select(*_LEDGER).where(documents.c.kb == kb, documents.c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            return [LedgerEntry(*row) for row in conn.execute(query)]

    def store_document(self, document: Document, chunk_stream: Iterable[Chunk], tables: list[Table]) -> int:
        """Replace the document's rows with this version, atomically; returns its chunk count.

        One transaction: the old version (chunks, catalogue rows, data tables) goes, the new
        one lands with status `stored`. If the chunk stream raises (a parse error deep in a
        file), everything rolls back and the caller records the failure.
        """
        with self.engine.begin() as conn:
            self._delete_documents(conn, [document.id])
            self._insert_document(conn, document, DocumentStatus.PENDING)
            for position, table in enumerate(tables):
                catalogue.write_table(conn, document, position, table)
            count = 0
            batch: list[dict[str, Any]] = []
            for chunk in chunk_stream:
                batch.append(
                    {
                        "id": chunk.id,
                        "document_id": chunk.document_id,
                        "kb": chunk.kb,
                        "ordinal": chunk.ordinal,
                        "text": chunk.text,
                        "search_text": search_text(chunk.text),
                        "token_count": chunk.token_count,
                        "metadata": chunk.metadata,
                    }
                )
                if len(batch) >= _BATCH:
                    conn.execute(chunks.insert(), batch)
                    count += len(batch)
                    batch = []
            if batch:
                conn.execute(chunks.insert(), batch)
                count += len(batch)
            status = DocumentStatus.STORED if count else DocumentStatus.DONE
            conn.execute(
                documents.update()
                .where(documents.c.id == document.id)
                .values(status=status, chunk_count=count, updated_at=_now())
            )
        return count

    def record_failure(self, document: Document, stage: str, error: str) -> None:
        """Keep a failed document in the ledger with its reason and nothing else of it."""
        with self.engine.begin() as conn:
            self._delete_documents(conn, [document.id])
            self._insert_document(conn, document, DocumentStatus.FAILED, stage=stage, error=error)

    @staticmethod
    def _insert_document(
        conn: Connection,
        document: Document,
        status: DocumentStatus,
        stage: str | None = None,
        error: str | None = None,
    ) -> None:
        now = _now()
        conn.execute(
            documents.insert().values(
                id=document.id,
                kb=document.kb,
                source=document.source,
                content_hash=document.content_hash,
                mime=document.mime,
                size=document.size,
                status=status,
                stage=stage,
                error=error,
                chunk_count=0,
                metadata=document.metadata,
                created_at=now,
                updated_at=now,
            )
        )

    def set_status(
        self, document_ids: list[str], status: DocumentStatus, vectors_in: str | None = None
    ) -> None:
        """Set the documents' status (clearing any failure); `vectors_in` records the vector
        collection that now holds all their chunk vectors (so every chunk is indexed)."""
        values: dict[str, Any] = {"status": status, "stage": None, "error": None}
        if vectors_in is not None:
            values["vectors_in"] = vectors_in
            values["chunks_indexed"] = documents.c.chunk_count
        with self.engine.begin() as conn:
            for batch in _batches(document_ids):
                conn.execute(
                    documents.update().where(documents.c.id.in_(batch)).values(**values, updated_at=_now())
                )

    def record_indexed(self, indexed: dict[str, int]) -> None:
        """Raise each document's count of indexed chunks to the count given, never lowering it:
        a resumed run that embeds the first chunks again does not move its progress back."""
        if not indexed:
            return
        larger = sa.func.greatest if self.engine.dialect.name == "postgresql" else sa.func.max
        statement = (
            documents.update()
            .where(documents.c.id == sa.bindparam("document"))
            .values(chunks_indexed=larger(documents.c.chunks_indexed, sa.bindparam("indexed")))
        )
        rows = [{"document": key, "indexed": count} for key, count in indexed.items()]
        with self.engine.begin() as conn:
            conn.execute(statement, rows)

    # ------------------------------------------------------------ vectors per model
    def missing_vectors(self, kb: str, collection: str, everything: bool = False) -> list[LedgerEntry]:
        """The `done` documents of `kb` with chunks whose vectors `collection` does not hold
        (all of them with `everything`: the collection was found empty)."""
        query = sa.select(*_LEDGER).where(
            documents.c.kb == kb, documents.c.status == DocumentStatus.DONE, documents.c.chunk_count > 0
        )
        if not everything:
            query = query.where(
                sa.or_(documents.c.vectors_in.is_(None), documents.c.vectors_in != collection)
            )
        with self.engine.connect() as conn:
            return [LedgerEntry(*row) for row in conn.execute(query)]

    def claim_vectors(self, kb: str, collection: str) -> int:
        """Record `collection` for the `done` documents ingested before the ledger recorded
        collections (migration 0006), when the caller found the KB's vectors there; how many."""
        with self.engine.begin() as conn:
            result = conn.execute(
                documents.update()
                .where(
                    documents.c.kb == kb,
                    documents.c.status == DocumentStatus.DONE,
                    documents.c.vectors_in.is_(None),
                )
                .values(vectors_in=collection)
            )
            return result.rowcount or 0

    def vector_coverage(self, kb: str, collection: str) -> tuple[int, int]:
        """How many chunks `kb`'s stored documents have, and how many of them `collection` holds."""
        held = sa.case((documents.c.vectors_in == collection, documents.c.chunk_count), else_=0)
        query = sa.select(sa.func.sum(documents.c.chunk_count), sa.func.sum(held)).where(
            documents.c.kb == kb, documents.c.status.in_([DocumentStatus.DONE, DocumentStatus.STORED])
        )
        with self.read_connection() as conn:
            total, covered = conn.execute(query).one()
        return int(total or 0), int(covered or 0)

    def vectors_by_collection(self, kb: str) -> dict[str, int]:
        """Chunks of `kb` per vector collection holding them, from the ledger (`rag status`)."""
        query = (
            sa.select(documents.c.vectors_in, sa.func.sum(documents.c.chunk_count))
            .where(
                documents.c.kb == kb,
                documents.c.status == DocumentStatus.DONE,
                documents.c.vectors_in.is_not(None),
            )
            .group_by(documents.c.vectors_in)
        )
        with self.engine.connect() as conn:
            return {name: int(count or 0) for name, count in conn.execute(query)}

    def delete_documents(self, document_ids: list[str]) -> None:
        """Forget the documents, with any upload or job of theirs still waiting for a worker."""
        with self.engine.begin() as conn:
            self._delete_documents(conn, document_ids)
            for batch in _batches(document_ids):
                uploads.forget(conn, batch)

    @staticmethod
    def _delete_documents(conn: Connection, document_ids: list[str]) -> None:
        for batch in _batches(document_ids):
            catalogue.drop_tables_of(conn, batch)
            # chunks first: on SQLite the FTS delete trigger fires per row, cascades would too
            conn.execute(chunks.delete().where(chunks.c.document_id.in_(batch)))
            conn.execute(documents.delete().where(documents.c.id.in_(batch)))

    # ------------------------------------------------------------------- chunks
    def iter_chunks(self, document_ids: list[str], batch_size: int) -> Iterator[list[Chunk]]:
        """The documents' chunks in (document, ordinal) order, a page at a time (keyset paging)."""
        for group in _batches(sorted(document_ids)):
            last: tuple[str, int] | None = None
            while True:
                query = (
                    sa.select(*_CHUNK)
                    .where(chunks.c.document_id.in_(group))
                    .order_by(chunks.c.document_id, chunks.c.ordinal)
                    .limit(batch_size)
                )
                if last is not None:
                    query = query.where(sa.tuple_(chunks.c.document_id, chunks.c.ordinal) > sa.tuple_(*last))
                with self.engine.connect() as conn:
                    page = [Chunk(*row) for row in conn.execute(query)]
                if not page:
                    break
                yield page
                last = (page[-1].document_id, page[-1].ordinal)

    def chunks_by_ids(self, ids: list[str]) -> dict[str, tuple[Chunk, str]]:
        """The chunks with these ids and their documents' sources, keyed by chunk id.

        Retrievers that find ids elsewhere (vectors, graph) read the text to cite here, in one
        query for a whole result list rather than one per hit; unknown ids are simply absent.
        Ids a standby does not hold yet (another process stored them within the replication
        lag) are read again from the primary, so a hit is never dropped for the lag.
        """
        wanted = list(dict.fromkeys(ids))
        with self.read_connection() as conn:
            found = _chunks_with_sources(conn, wanted)
            on_standby = conn.engine is not self.engine
        if on_standby and len(found) < len(wanted):
            with self.engine.connect() as conn:
                found |= _chunks_with_sources(conn, [i for i in wanted if i not in found])
        return found


def _chunks_with_sources(conn: Connection, ids: list[str]) -> dict[str, tuple[Chunk, str]]:
    found: dict[str, tuple[Chunk, str]] = {}
    for batch in _batches(ids):
        query = sa.select(*_CHUNK, documents.c.source).join(documents).where(chunks.c.id.in_(batch))
        for *fields, source in conn.execute(query):
            found[fields[0]] = (Chunk(*fields), source)
    return found
