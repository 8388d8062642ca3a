"""Stored conversations and their turns, so every chat surface can continue one by id.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "kb",
            sa.String(128),
            sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key_id", sa.String(36)),
        sa.Column("title", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_conversations_key_updated", "conversations", ["key_id", "updated_at"])
    op.create_index("ix_conversations_kb_updated", "conversations", ["kb", "updated_at"])
    op.create_table(
        "conversation_turns",
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


def downgrade() -> None:
    op.drop_table("conversation_turns")
    op.drop_index("ix_conversations_kb_updated", table_name="conversations")
    op.drop_index("ix_conversations_key_updated", table_name="conversations")
    op.drop_table("conversations")
