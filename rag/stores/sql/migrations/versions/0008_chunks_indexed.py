"""How many of a document's chunks are embedded (and linked in the graph): a job's progress.

`rag jobs` and `GET /v1/jobs` show it against `chunk_count` while a document is `stored` (its
chunks in the ledger, their vectors and graph under way). It only grows within a version of the
document: a resumed run that embeds the first chunks again leaves it where the earlier run got
to (those chunks' vectors are there already); a new version starts at 0.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("chunks_indexed", sa.Integer, nullable=False, server_default="0"))
    # what is done was indexed whole
    op.execute("UPDATE documents SET chunks_indexed = chunk_count WHERE status = 'done'")


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("chunks_indexed")
