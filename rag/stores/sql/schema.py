"""SQLAlchemy Core handles on the ledger tables, for queries.

The tables are created and evolved by the Alembic migrations in `migrations/versions/`;
these handles describe the same columns, keys, constraints, indexes and server defaults, so
queries are checked by SQLAlchemy, not strings, and `tests/rag/stores/test_migrations.py` can
prove that a migrated database is exactly this. Only the full-text machinery is left out: it is
dialect-specific and written in raw SQL by the migrations (SQLite's `chunks_fts` tables and
triggers; PostgreSQL's generated `chunks.tsv` column, its GIN index, and `chunk_terms` with
its triggers).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

knowledge_bases = sa.Table(
    "knowledge_bases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("mime", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("stage", sa.String(16)),
    sa.Column("error", sa.Text),
    sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
    # of those, how many are embedded and linked in the graph: a run's progress, only growing
    # within a version of the document (migration 0008)
    sa.Column("chunks_indexed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the vector collection (one per embedding model) holding all the document's chunk vectors;
    # NULL until they are all there (`Ledger.missing_vectors`)
    sa.Column("vectors_in", sa.String(160)),
    # one document per file and KB: the ledger is keyed by source (`Ledger.ledger`)
    sa.UniqueConstraint("kb", "source", name="uq_documents_kb_source"),
    sa.Index("ix_documents_kb_status", "kb", "status"),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column(
        "seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "document_id", sa.String(36), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kb", sa.String(128), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("search_text", sa.Text),
    sa.Column("token_count", sa.Integer, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    # keyset paging of a document's chunks in order (`Ledger.iter_chunks`)
    sa.Index("ix_chunks_document_ordinal", "document_id", "ordinal", unique=True),
    sa.Index("ix_chunks_kb", "kb"),
)

kb_tables = sa.Table(
    "kb_tables",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column(
        "document_id", sa.String(36), sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("source_name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("sample_rows", sa.JSON, nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Index("ix_kb_tables_kb", "kb"),
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

#: per KB, the fusion weights its own pseudo-queries taught (`rag.retrieve.calibrate`)
fusion_weights = sa.Table(
    "fusion_weights",
    metadata,
    sa.Column(
        "kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("queries", sa.Integer, nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
)

#: a stored conversation over one KB; `key_id` is the API key that created it (None: the admin key,
#: open mode or the CLI). It is no foreign key on purpose: revoking a key must not erase what its
#: users asked, and the admin still reads those conversations.
conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("key_id", sa.String(36)),
    sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the newest first, of one key or one KB (`conversations.page`)
    sa.Index("ix_conversations_key_updated", "key_id", "updated_at"),
    sa.Index("ix_conversations_kb_updated", "kb", "updated_at"),
)

#: one question and its answer in a conversation, numbered from 0
conversation_turns = sa.Table(
    "conversation_turns",
    metadata,
    sa.Column(
        "conversation_id",
        sa.String(36),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("ordinal", sa.Integer, primary_key=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("retrieval_question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("citations", sa.JSON, nullable=False),
    sa.Column("abstained", sa.String(16)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

#: an uploaded file's bytes until a worker has stored its chunks (`rag.stores.sql.uploads`): in the
#: relational store, so whichever worker takes the job can read them, on whatever machine
uploads = sa.Table(
    "uploads",
    metadata,
    # the document id the upload becomes (uuid5 of the KB and `source`)
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "kb", sa.String(128), sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("file_name", sa.Text, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
