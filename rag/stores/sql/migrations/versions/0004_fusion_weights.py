"""Fusion weights learned per knowledge base (`rag.retrieve.calibrate`), kept until the KB changes.

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fusion_weights",
        sa.Column(
            "kb",
            sa.String(128),
            sa.ForeignKey("knowledge_bases.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("queries", sa.Integer, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fusion_weights")
