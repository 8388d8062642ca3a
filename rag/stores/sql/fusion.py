"""Rows of `fusion_weights`, and the sample of chunks that pseudo-queries are written from."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rag.stores.sql.results import LearnedWeights
from rag.stores.sql.schema import chunks, fusion_weights


def read(conn: sa.Connection, kb: str) -> LearnedWeights | None:
    row = conn.execute(sa.select(fusion_weights).where(fusion_weights.c.kb == kb)).first()
    if row is None:
        return None
    return LearnedWeights(row.kb, dict(row.weights), row.queries, row.chunks, dict(row.report), row.fitted_at)


def write(
    conn: sa.Connection,
    kb: str,
    weights: dict[str, float],
    queries: int,
    chunk_count: int,
    report: dict[str, Any],
) -> None:
    """Replace the KB's weights (delete + insert: the same statements on SQLite and PostgreSQL)."""
    conn.execute(fusion_weights.delete().where(fusion_weights.c.kb == kb))
    conn.execute(
        fusion_weights.insert().values(
            kb=kb,
            weights=weights,
            queries=queries,
            chunks=chunk_count,
            report=report,
            fitted_at=datetime.now(UTC),
        )
    )


def sample(conn: sa.Connection, kb: str, count: int) -> list[tuple[str, str, str]]:
    """(chunk id, document id, text) of up to `count` chunks of the KB, the same ones on every call
    for an unchanged KB: ordered by id, and ids are random UUIDs, so the sample is spread over the KB."""
    query = (
        sa.select(chunks.c.id, chunks.c.document_id, chunks.c.text)
        .where(chunks.c.kb == kb)
        .order_by(chunks.c.id)
        .limit(count)
    )
    return [(row.id, row.document_id, row.text) for row in conn.execute(query)]


def chunk_count(conn: sa.Connection, kb: str) -> int:
    return conn.execute(sa.select(sa.func.count()).where(chunks.c.kb == kb)).scalar_one()
