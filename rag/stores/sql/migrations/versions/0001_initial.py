"""The ledger: knowledge bases, documents, chunks with full text, and the table catalogue.

Full text is dialect-specific: PostgreSQL gets a generated tsvector column with a GIN index,
SQLite an external-content FTS5 table (no second copy of the text) kept in sync by triggers.
Both index `search_text` (CJK text pre-segmented with jieba) and fall back to `text` where it
is NULL.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_bases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "kb",
            sa.String(128),
            sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16)),
        sa.Column("error", sa.Text),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kb", "source", name="uq_documents_kb_source"),
    )
    op.create_index("ix_documents_kb_status", "documents", ["kb", "status"])
    op.create_table(
        "chunks",
        # an integer key gives SQLite's FTS5 a rowid that VACUUM never renumbers
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kb", sa.String(128), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
    )
    op.create_index("ix_chunks_document_ordinal", "chunks", ["document_id", "ordinal"], unique=True)
    op.create_index("ix_chunks_kb", "chunks", ["kb"])
    op.create_table(
        "kb_tables",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "kb",
            sa.String(128),
            sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "document_id",
            sa.String(36),
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("sample_rows", sa.JSON, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_kb_tables_kb", "kb_tables", ["kb"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(to_tsvector('english', coalesce(search_text, text))) STORED"
        )
        op.execute("CREATE INDEX ix_chunks_tsv ON chunks USING GIN (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE chunks_fts USING fts5(search_text, content='chunks', "
            "content_rowid='seq', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
            "INSERT INTO chunks_fts(rowid, search_text) "
            "VALUES (new.seq, coalesce(new.search_text, new.text)); END"
        )
        op.execute(
            "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
            "INSERT INTO chunks_fts(chunks_fts, rowid, search_text) "
            "VALUES ('delete', old.seq, coalesce(old.search_text, old.text)); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS chunks_fts")
    for table in ("kb_tables", "chunks", "documents", "knowledge_bases"):
        op.drop_table(table)
