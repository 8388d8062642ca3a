"""Uploaded files kept in the relational store until a worker has stored their chunks.

An upload handed to the job queue (`ingest.jobs`) may be taken by a worker on any machine, so its
bytes cannot stay on the disk of the replica that received it. A row per document id: the same
name uploaded again before its job ran replaces the bytes, and the job reads the newest. The row
goes once the document's chunks are in the ledger (the ledger's content hash decides what a later
upload changes), or with its document or KB.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag.stores.sql.schema import uploads


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """One upload waiting for its worker: where it goes and its bytes."""

    id: str
    kb: str
    source: str
    file_name: str
    content: bytes


def put(conn: Connection, upload: StoredUpload) -> None:
    """Keep `upload`, replacing an earlier one of the same document that no worker took yet."""
    conn.execute(uploads.delete().where(uploads.c.id == upload.id))
    conn.execute(
        uploads.insert().values(
            id=upload.id,
            kb=upload.kb,
            source=upload.source,
            file_name=upload.file_name,
            content=upload.content,
            size=len(upload.content),
            created_at=datetime.now(UTC),
        )
    )


def get(conn: Connection, upload_id: str) -> StoredUpload | None:
    query = sa.select(uploads.c.id, uploads.c.kb, uploads.c.source, uploads.c.file_name, uploads.c.content)
    row = conn.execute(query.where(uploads.c.id == upload_id)).first()
    return StoredUpload(row.id, row.kb, row.source, row.file_name, bytes(row.content)) if row else None


def waiting(conn: Connection, ids: Collection[str]) -> dict[str, str]:
    """Of these document ids, those still waiting as uploads, each with its KB (no bytes read)."""
    if not ids:
        return {}
    rows = conn.execute(sa.select(uploads.c.id, uploads.c.kb).where(uploads.c.id.in_(list(ids))))
    return {row.id: row.kb for row in rows}


def delete(conn: Connection, ids: Collection[str]) -> None:
    if ids:
        conn.execute(uploads.delete().where(uploads.c.id.in_(list(ids))))


#: waiting ingestion jobs of documents (their `lock` is the document id) or of a whole KB, cancelled
#: as procrastinate's own `cancel` does for a job still `todo`
_CANCEL_DOCUMENTS = sa.text(
    "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo' AND lock IN :ids"
).bindparams(sa.bindparam("ids", expanding=True))
_CANCEL_KB = sa.text(
    "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo' AND args->>'kb' = :kb"
)


def forget(conn: Connection, ids: Collection[str] = (), kb: str | None = None) -> None:
    """In the transaction that deletes documents (or the KB `kb`): their waiting uploads go, and
    on PostgreSQL their waiting jobs are cancelled, so no worker ingests a deleted document again
    (a job already running ends its run; deleting again once it has removes what it wrote)."""
    if ids:
        delete(conn, ids)
    if conn.dialect.name != "postgresql":
        return  # no queue on SQLite (migration 0007)
    if ids:
        conn.execute(_CANCEL_DOCUMENTS, {"ids": list(ids)})
    if kb is not None:
        conn.execute(_CANCEL_KB, {"kb": kb})
