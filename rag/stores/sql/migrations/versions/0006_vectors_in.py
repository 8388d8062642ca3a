"""Which vector collection (embedding model) holds each document's chunk vectors.

Without it, a changed `RAG_EMBED_MODEL` found every document "unchanged" and left the new
model's collection empty. NULL on a document ingested before this revision: the next ingest
claims it for the configured collection when that collection holds the KB's vectors, and
embeds it again otherwise (`ingest.pipeline`).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("vectors_in", sa.String(160)))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("vectors_in")
