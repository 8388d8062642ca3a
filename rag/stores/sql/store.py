"""The relational store: ledger of documents, chunks with full text, and the table catalogue.

It is the source of truth: the vector and graph stores only ever hold what a row here
describes. One implementation serves SQLite (embedded default) and PostgreSQL through
SQLAlchemy; the few dialect differences (full text, namespaces) live in `fulltext.py`,
the migrations and `kb_tables.py`.

`SqlStore` is the one class the other layers use. Its parts live apart: the engine and the
migrations in `engine.py`, knowledge bases, documents and chunks in `ledger.py` (which it
extends), the catalogue in `catalogue.py`, the counts in `stats.py`, stored conversations in
`conversations.py`, uploads waiting for a worker in `uploads.py`, the routing of retrieval reads
to a standby in `replica.py`, and what they return in `results.py`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from rag.config import mask_url
from rag.stores.sql import catalogue, conversations, fusion, uploads
from rag.stores.sql.engine import check_reachable, create_engine, migrate, report_unavailable
from rag.stores.sql.ledger import Ledger
from rag.stores.sql.replica import ReadRouter
from rag.stores.sql.results import CatalogueTable, Conversation, KbStats, LearnedWeights
from rag.stores.sql.stats import kb_stats
from rag.stores.sql.uploads import StoredUpload


class SqlStore(Ledger):
    """Ledger, chunks, keyword index and table catalogue on SQLite or PostgreSQL."""

    def __init__(self, url: str, timeout: float = 10.0, reader_url: str = "", replica_url: str = "") -> None:
        self.url = url
        self.description = f"relational store {mask_url(url)}"
        super().__init__(create_engine(url, timeout))
        self.dialect = self.engine.dialect.name
        if reader_url and self.dialect != "postgresql":
            self.engine.dispose()
            raise ValueError("RAG_SQL_READER_URL needs RAG_SQL_URL on PostgreSQL (SQLite has no roles)")
        if replica_url and (self.dialect != "postgresql" or not replica_url.startswith("postgresql")):
            self.engine.dispose()
            raise ValueError("RAG_SQL_REPLICA_URL needs PostgreSQL, in RAG_SQL_URL as well (its standby)")
        #: where queries a model wrote run: the SELECT-only role of `reader_url` (see `reader.py`),
        #: else the store's own engine. Not connected here: a reader that cannot log in fails the
        #: SQL retriever (and `rag doctor`), not every store.
        self.reader_engine = create_engine(reader_url, timeout) if reader_url else self.engine
        report_unavailable(self.engine, self.description)
        if self.reader_engine is not self.engine:
            report_unavailable(self.reader_engine, f"SQL reader {mask_url(reader_url)}")
        if replica_url:
            replica = create_engine(replica_url, timeout)
            report_unavailable(replica, f"SQL replica {mask_url(replica_url)}")
            self.reads = ReadRouter(self.engine, replica, mask_url(replica_url))
        try:
            self.health()
            migrate(self.engine)
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------- lifecycle
    def health(self) -> None:
        check_reachable(self.engine, self.description)

    def close(self) -> None:
        if self.reads is not None:
            self.reads.replica.dispose()
        if self.reader_engine is not self.engine:
            self.reader_engine.dispose()
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

    # ------------------------------------------------------ catalogue and status
    def tables(self, kb: str) -> list[CatalogueTable]:
        """The catalogue of the KB's tables (what text-to-SQL will see), each with its document's source."""
        with self.read_connection() as conn:
            return catalogue.list_tables(conn, kb)

    def stats(self, kb: str) -> KbStats:
        """Per-KB counts for `rag status`, and the most recent failures with their reasons."""
        with self.engine.connect() as conn:
            return kb_stats(conn, kb)

    # ------------------------------------------------------------ fusion weights
    def learned_weights(self, kb: str) -> LearnedWeights | None:
        """The fusion weights the KB's pseudo-queries taught, if it was ever fitted."""
        with self.engine.connect() as conn:
            return fusion.read(conn, kb)

    def save_learned_weights(
        self, kb: str, weights: dict[str, float], queries: int, chunks: int, report: dict[str, Any]
    ) -> None:
        with self.engine.begin() as conn:
            fusion.write(conn, kb, weights, queries, chunks, report)

    def sample_chunks(self, kb: str, count: int) -> list[tuple[str, str, str]]:
        """(id, document id, text) of up to `count` chunks, the same for an unchanged KB (pseudo-queries)."""
        with self.engine.connect() as conn:
            return fusion.sample(conn, kb, count)

    def chunk_count(self, kb: str) -> int:
        with self.engine.connect() as conn:
            return fusion.chunk_count(conn, kb)

    # ------------------------------------------------------------ conversations
    def create_conversation(self, kb: str, key_id: str | None = None) -> Conversation:
        """A new, empty conversation over `kb`, created by the key `key_id` (None: admin or CLI)."""
        with self.engine.begin() as conn:
            return conversations.create(conn, kb, key_id)

    def conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation with its turns, or None."""
        with self.engine.connect() as conn:
            return conversations.get(conn, conversation_id)

    def append_turn(
        self,
        conversation_id: str,
        *,
        question: str,
        retrieval_question: str,
        answer: str,
        citations: list[dict[str, Any]],
        abstained: str | None,
    ) -> int | None:
        """Store a turn after the conversation's last; its ordinal, None when the conversation is gone."""
        with self.engine.begin() as conn:
            return conversations.append(
                conn,
                conversation_id,
                question=question,
                retrieval_question=retrieval_question,
                answer=answer,
                citations=citations,
                abstained=abstained,
            )

    def list_conversations(
        self,
        *,
        kb: str | None = None,
        key_id: str | None = None,
        kbs: Collection[str] | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> tuple[int, list[Conversation]]:
        """How many conversations match, and one page of them, the most recently continued first."""
        with self.engine.connect() as conn:
            return conversations.page(conn, kb=kb, key_id=key_id, kbs=kbs, offset=offset, limit=limit)

    def delete_conversation(self, conversation_id: str) -> bool:
        with self.engine.begin() as conn:
            return conversations.delete(conn, conversation_id)

    # ------------------------------------------------------------------ uploads
    def put_upload(self, upload: StoredUpload) -> None:
        with self.engine.begin() as conn:
            uploads.put(conn, upload)

    def upload(self, upload_id: str) -> StoredUpload | None:
        with self.engine.connect() as conn:
            return uploads.get(conn, upload_id)

    def waiting_uploads(self, ids: Collection[str]) -> dict[str, str]:
        """Of these document ids, the uploads no worker has stored yet, each with its KB."""
        with self.engine.connect() as conn:
            return uploads.waiting(conn, ids)

    def delete_uploads(self, ids: Collection[str]) -> None:
        with self.engine.begin() as conn:
            uploads.delete(conn, ids)
