"""PostgreSQL keeps per-KB document frequencies of its full-text lexemes, as FTS5 does for SQLite.

`ts_rank_cd` knows nothing of how common a word is, and ranking every chunk that contains "work"
or "system" (half of a large KB) took most of a keyword query's time. With each lexeme's document
frequency at hand, the keyword retriever weighs terms by IDF and asks the GIN index only for the
chunks that can still reach the top (`rag.retrieve.keyword_postgres`).

`chunk_terms` holds, per KB, how many chunks contain each lexeme; the row whose lexeme is the empty
string (no real lexeme is empty) counts the KB's chunks. Statement-level triggers with transition
tables keep it exact on every insert and delete of chunks, whatever deletes them (a document
replaced or removed, a KB dropped), in the same transaction. SQLite needs nothing: FTS5 has these
statistics built in.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: one row per (kb, lexeme) of a statement's chunks, plus one per kb with the empty lexeme;
#: ordered, so concurrent writers lock the rows they share in the same order
_COUNTS = """
    SELECT kb, lexeme, count(*) AS df FROM (
        SELECT kb, unnest(tsvector_to_array(tsv)) AS lexeme FROM {rows}
        UNION ALL
        SELECT kb, '' FROM {rows}
    ) AS terms GROUP BY kb, lexeme ORDER BY kb, lexeme
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "chunk_terms",
        sa.Column("kb", sa.String(128), primary_key=True),
        sa.Column("lexeme", sa.Text, primary_key=True),
        sa.Column("df", sa.BigInteger, nullable=False),
    )
    op.execute(f"INSERT INTO chunk_terms (kb, lexeme, df) {_COUNTS.format(rows='chunks')}")
    op.execute(
        f"""
        CREATE FUNCTION chunk_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO chunk_terms (kb, lexeme, df) {_COUNTS.format(rows="added")}
            ON CONFLICT (kb, lexeme) DO UPDATE SET df = chunk_terms.df + excluded.df;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION chunk_terms_remove() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE chunk_terms SET df = chunk_terms.df - removed.df
            FROM ({_COUNTS.format(rows="removed")}) AS removed
            WHERE chunk_terms.kb = removed.kb AND chunk_terms.lexeme = removed.lexeme;
            DELETE FROM chunk_terms WHERE df <= 0 AND (kb, lexeme) IN (
                SELECT kb, unnest(tsvector_to_array(tsv)) FROM removed UNION SELECT kb, '' FROM removed
            );
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS added "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunk_terms_add()"
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_delete AFTER DELETE ON chunks REFERENCING OLD TABLE AS removed "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunk_terms_remove()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER chunk_terms_delete ON chunks")
    op.execute("DROP TRIGGER chunk_terms_insert ON chunks")
    op.execute("DROP FUNCTION chunk_terms_remove()")
    op.execute("DROP FUNCTION chunk_terms_add()")
    op.drop_table("chunk_terms")
