"""SQLAlchemy Core handles on the ledger tables, for queries.

The tables are created and evolved by the Alembic migrations in `migrations/versions/`;
these handles name the same columns so queries are checked by SQLAlchemy, not strings.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

knowledge_bases = sa.Table(
    "knowledge_bases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE")),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("mime", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("stage", sa.String(16)),
    sa.Column("error", sa.Text),
    sa.Column("chunk_count", sa.Integer, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("document_id", sa.String(36), sa.ForeignKey("documents.id", ondelete="CASCADE")),
    sa.Column("kb", sa.String(128), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("search_text", sa.Text),
    sa.Column("token_count", sa.Integer, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
)

kb_tables = sa.Table(
    "kb_tables",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE")),
    sa.Column("document_id", sa.String(36), sa.ForeignKey("documents.id", ondelete="CASCADE")),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("sample_rows", sa.JSON, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("kbs", sa.JSON, nullable=False),
    sa.Column("can_write", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
