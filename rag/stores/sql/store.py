"""The relational store: ledger of documents, chunks with full text, and the table catalogue.

It is the source of truth: the vector and graph stores only ever hold what a row here
describes. One implementation serves SQLite (embedded default) and PostgreSQL through
SQLAlchemy; the few dialect differences (full text, namespaces) live in `fulltext.py`,
the migration and `kb_tables.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from rag.config import mask_url
from rag.models import Chunk, Document, DocumentStatus, Table, stable_id
from rag.stores.errors import StoreUnavailable
from rag.stores.sql import kb_tables as kb_namespace
from rag.stores.sql.fulltext import search_text
from rag.stores.sql.schema import chunks, documents, knowledge_bases
from rag.stores.sql.schema import kb_tables as catalogue

_MIGRATIONS = Path(__file__).parent / "migrations"
#: rows per executemany and ids per IN (...) list: large enough to amortise round trips,
#: small enough for SQLite's bound-parameter limit
_BATCH = 500
_SAMPLE_ROWS = 3
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
_LEDGER = (
    documents.c.id,
    documents.c.kb,
    documents.c.source,
    documents.c.content_hash,
    documents.c.status,
    documents.c.chunk_count,
)


#: what the API shows of a document
_DETAILS = (
    documents.c.id,
    documents.c.kb,
    documents.c.source,
    documents.c.status,
    documents.c.stage,
    documents.c.error,
    documents.c.size,
    documents.c.chunk_count,
    documents.c.metadata,
    documents.c.created_at,
    documents.c.updated_at,
)


@dataclass(slots=True, frozen=True)
class LedgerEntry:
    """What the ledger knows of one document, enough to decide new / changed / resume."""

    id: str
    kb: str
    source: str
    content_hash: str
    status: str
    chunk_count: int


def _now() -> datetime:
    return datetime.now(UTC)


def _batches(items: list[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _jsonable(value: Any) -> Any:
    """Catalogue sample rows hold dates and decimals; JSON columns need plain values."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _create_engine(url: str, timeout: float) -> Engine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": timeout})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        connect_args={"connect_timeout": max(1, int(timeout))},
    )


class SqlStore:
    """Ledger, chunks, keyword index and table catalogue on SQLite or PostgreSQL."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.description = f"relational store {mask_url(url)}"
        self.engine = _create_engine(url, timeout)
        self.dialect = self.engine.dialect.name
        self.health()
        self._migrate()

    # ----------------------------------------------------------------- lifecycle
    def health(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreUnavailable(f"{self.description} is unreachable: {reason}") from None

    def _migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it already is."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    def analyze(self) -> None:
        """Refresh the query planner's statistics after a bulk write.

        Until autovacuum gets to it, PostgreSQL believes a freshly filled table is tiny, filters
        every chunk of the KB by keyword instead of asking the full-text index (23 ms instead of
        2 ms per query at 10k chunks), and ranks keyword hits without the term statistics it just
        gained. SQLite's `PRAGMA optimize` does the same where its planner would profit.
        """
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("ANALYZE chunks, chunk_terms, documents"))
            else:
                conn.execute(sa.text("PRAGMA optimize"))

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

    def list_kbs(self) -> list[dict[str, Any]]:
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
            return [dict(row._mapping) for row in conn.execute(query)]

    def delete_kb(self, name: str) -> None:
        """Drop the KB's tables and namespace, then its rows (documents and chunks cascade)."""
        with self.engine.begin() as conn:
            kb_namespace.drop_kb_namespace(conn, name)
            conn.execute(chunks.delete().where(chunks.c.kb == name))
            conn.execute(knowledge_bases.delete().where(knowledge_bases.c.name == name))

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

    def document_details(self, ids: list[str]) -> list[dict[str, Any]]:
        """What a client may see of documents (state, error, size, times), in the order of `ids`."""
        query = sa.select(*_DETAILS).where(documents.c.id.in_(ids))
        with self.engine.connect() as conn:
            found = {row.id: dict(row._mapping) for row in conn.execute(query)}
        return [found[i] for i in ids if i in found]

    def list_documents(self, kb: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
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
            return total, [dict(row._mapping) for row in conn.execute(query)]

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
                self._write_table(conn, document, position, table)
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

    def _write_table(self, conn: Connection, document: Document, position: int, table: Table) -> None:
        # the document id keeps same-named files in different folders apart
        base = table.name if table.sheet is None else f"{table.name}_{table.sheet}"
        name = kb_namespace.write_table(conn, document.kb, f"{base}_{document.id[:8]}", table)
        conn.execute(
            catalogue.insert().values(
                id=stable_id("table", document.id, position),
                kb=document.kb,
                document_id=document.id,
                name=name,
                source_name=table.name if table.sheet is None else f"{table.name} / {table.sheet}",
                description=f"{table.name} from {Path(document.source).name}"
                + (f", sheet {table.sheet}" if table.sheet else "")
                + f": {len(table.rows)} rows",
                columns=[{"name": c.name, "type": c.type} for c in table.columns],
                sample_rows=[[_jsonable(v) for v in row] for row in table.rows[:_SAMPLE_ROWS]],
                row_count=len(table.rows),
            )
        )

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

    def set_status(self, document_ids: list[str], status: DocumentStatus) -> None:
        with self.engine.begin() as conn:
            for batch in _batches(document_ids):
                conn.execute(
                    documents.update()
                    .where(documents.c.id.in_(batch))
                    .values(status=status, stage=None, error=None, updated_at=_now())
                )

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
        """
        found: dict[str, tuple[Chunk, str]] = {}
        with self.engine.connect() as conn:
            for batch in _batches(list(dict.fromkeys(ids))):
                query = sa.select(*_CHUNK, documents.c.source).join(documents).where(chunks.c.id.in_(batch))
                for *fields, source in conn.execute(query):
                    found[fields[0]] = (Chunk(*fields), source)
        return found

    def delete_documents(self, document_ids: list[str]) -> None:
        with self.engine.begin() as conn:
            self._delete_documents(conn, document_ids)

    def _delete_documents(self, conn: Connection, document_ids: list[str]) -> None:
        for batch in _batches(document_ids):
            tables = conn.execute(
                sa.select(catalogue.c.kb, catalogue.c.name).where(catalogue.c.document_id.in_(batch))
            ).all()
            for kb, name in tables:
                kb_namespace.drop_table(conn, kb, name)
            # chunks first: on SQLite the FTS delete trigger fires per row, cascades would too
            conn.execute(chunks.delete().where(chunks.c.document_id.in_(batch)))
            conn.execute(documents.delete().where(documents.c.id.in_(batch)))

    # ------------------------------------------------------------------- status
    def stats(self, kb: str) -> dict[str, Any]:
        """Per-KB counts for `rag status`, and the most recent failures with their reasons."""
        with self.engine.connect() as conn:
            by_status = Counter(
                dict(
                    conn.execute(
                        sa.select(documents.c.status, sa.func.count())
                        .where(documents.c.kb == kb)
                        .group_by(documents.c.status)
                    ).all()
                )
            )
            chunk_count = conn.scalar(sa.select(sa.func.count()).where(chunks.c.kb == kb))
            table_count = conn.scalar(sa.select(sa.func.count()).where(catalogue.c.kb == kb))
            failed = conn.execute(
                sa.select(documents.c.source, documents.c.stage, documents.c.error)
                .where(documents.c.kb == kb, documents.c.status == DocumentStatus.FAILED)
                .order_by(documents.c.updated_at.desc())
                .limit(20)
            )
            return {
                "documents": dict(by_status),
                "chunks": chunk_count or 0,
                "tables": table_count or 0,
                "failed": [dict(row._mapping) for row in failed],
            }

    def tables(self, kb: str) -> list[dict[str, Any]]:
        """The catalogue of the KB's tables (what text-to-SQL will see), each with its document's source."""
        query = (
            sa.select(catalogue, documents.c.source)
            .join(documents, documents.c.id == catalogue.c.document_id)
            .where(catalogue.c.kb == kb)
            .order_by(catalogue.c.name)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
