"""A knowledge base's ledger in numbers, for `rag status` and `GET /v1/knowledge-bases/{kb}`."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rag.models import DocumentStatus
from rag.stores.sql.results import FailedDocument, KbStats
from rag.stores.sql.schema import chunks, documents
from rag.stores.sql.schema import kb_tables as catalogue

#: failures listed at most, the most recent first: enough to act on, short enough to read
_FAILURES_SHOWN = 20


def kb_stats(conn: Connection, kb: str) -> KbStats:
    """Documents by state, chunks and catalogued tables of `kb`, and its most recent failures."""
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
        .limit(_FAILURES_SHOWN)
    )
    return KbStats(
        documents=dict(by_status),
        chunks=chunk_count or 0,
        tables=table_count or 0,
        failed=[FailedDocument(*row) for row in failed],
    )
