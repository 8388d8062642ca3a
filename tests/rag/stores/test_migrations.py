"""The Alembic migrations build exactly what `rag.stores.sql.schema` describes, on SQLite and PostgreSQL.

The queries are written against the SQLAlchemy metadata, the databases are built by the migrations;
nothing else ties the two together. Alembic's own autogenerate comparison (columns, types,
nullability, server defaults, keys, unique constraints, indexes) must find no difference, both on a
fresh database and on one that an older `rag` migrated and filled, which `rag` upgrades the first
time it opens it. The one thing the metadata leaves out on purpose is the dialect's full-text
machinery, written in raw SQL by the migrations; the comparison skips exactly those objects and
checks that they are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from rag.models import Chunk, Column, Document, Table, chunk_id, document_id
from rag.stores.sql import SqlStore
from rag.stores.sql.engine import MIGRATIONS, create_engine, migrate
from rag.stores.sql.kb_tables import kb_namespace
from rag.stores.sql.ledger import Ledger
from rag.stores.sql.schema import metadata
from tests.postgres import create_database, drop_database

#: the full-text objects each dialect's migrations create outside the metadata
FULL_TEXT = {
    "sqlite": {"chunks_fts", "chunks_fts_config", "chunks_fts_data", "chunks_fts_docsize", "chunks_fts_idx"},
    "postgresql": {"chunk_terms", "tsv", "ix_chunks_tsv"},
}
#: the revision every database created before the schema test existed is at
LAST_RELEASED = "0003"
KB = "kb"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new database on the session's real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rag.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    created = create_database(server, "migrations")
    yield created
    drop_database(server, created)


def differences(engine: Engine) -> tuple[list[Any], set[str]]:
    """What autogenerate would change to make the database match the metadata, and the full-text
    objects it skipped (objects only the database has, named in `FULL_TEXT`). The KB's own data
    tables are no part of the schema: on SQLite they share the main database (`kb_kb__…`)."""
    skipped: set[str] = set()
    full_text = FULL_TEXT[engine.dialect.name]
    data_tables = f"{kb_namespace(KB)}__"

    def include(_object: object, name: str | None, _type: str, reflected: bool, compare_to: object) -> bool:
        if reflected and compare_to is None and name and name.startswith(data_tables):
            return False
        if reflected and compare_to is None and name and name.startswith("procrastinate_"):
            return False  # the job queue's own schema (migration 0007), not the ledger's
        if reflected and compare_to is None and name in full_text:
            skipped.add(name)
            return False
        return True

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True, "include_object": include}
        )
        return compare_metadata(context, metadata), skipped


def revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def fill(ledger: Ledger) -> tuple[str, list[str]]:
    """One KB with a document of three chunks and a table; its document id and chunk ids."""
    ledger.create_kb(KB, "before the upgrade")
    doc = Document(document_id(KB, "/docs/sales.csv"), KB, "/docs/sales.csv", "hash", "text/csv", size=42)
    chunks = [
        Chunk(chunk_id(doc.id, n), doc.id, KB, n, f"row {n} of the sales report", 6, {"page": n})
        for n in range(3)
    ]
    table = Table(
        "sales", [Column("region", "text"), Column("amount", "integer")], [["north", 3], ["south", 4]]
    )
    ledger.store_document(doc, iter(chunks), [table])
    return doc.id, [chunk.id for chunk in chunks]


def test_a_fresh_database_migrates_to_exactly_the_metadata(url: str) -> None:
    store = SqlStore(url)
    try:
        found, skipped = differences(store.engine)
        assert found == []
        assert skipped == FULL_TEXT[store.dialect]
        assert revision(store.engine) == head()
    finally:
        store.close()


def test_a_filled_database_of_the_last_release_upgrades_on_open_and_keeps_its_rows(url: str) -> None:
    engine = create_engine(url, timeout=10.0)
    migrate(engine, LAST_RELEASED)
    doc, chunk_ids = fill(Ledger(engine))
    engine.dispose()

    store = SqlStore(url)  # what `rag` does on every start
    try:
        assert revision(store.engine) == head()
        found, skipped = differences(store.engine)
        assert found == [] and skipped == FULL_TEXT[store.dialect]
        [kb] = store.list_kbs()
        assert (kb.name, kb.description, kb.documents) == (KB, "before the upgrade", 1)
        stats = store.stats(KB)
        assert (stats.documents, stats.chunks, stats.tables) == ({"stored": 1}, 3, 1)
        assert sorted(store.chunks_by_ids(chunk_ids)) == sorted(chunk_ids)
        [table] = store.tables(KB)
        assert (table.document_id, table.row_count) == (doc, 2)
        with store.engine.connect() as conn:
            assert conn.scalar(sa.text(f"SELECT sum(amount) FROM {table.name}")) == 7
    finally:
        store.close()


def test_processes_opening_an_empty_postgres_together_all_start(postgres_url: str) -> None:
    """Replicas or workers that start at once on a new database: each migrates in turn under an
    advisory lock, the later ones finding the schema done (without it all but one failed on a
    duplicate key of pg_type). Real processes, so each has its own connection and timing."""
    import subprocess
    import sys
    import time

    url = create_database(postgres_url, "together")
    # each process imports first, then waits for one shared moment, so the opens truly overlap
    opener = (
        "import sys, time; from rag.stores.sql import SqlStore; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
        "store = SqlStore(sys.argv[1]); print(len(store.list_kbs())); store.close()"
    )
    moment = str(time.time() + 8)
    try:
        started = [
            subprocess.Popen(
                [sys.executable, "-c", opener, url, moment],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = [process.communicate(timeout=120) for process in started]
        assert [process.returncode for process in started] == [0] * 4, [err[-800:] for _, err in results]
        assert [out.strip() for out, _ in results] == ["0"] * 4
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        engine.dispose()
        assert heads == [head()]
    finally:
        drop_database(postgres_url, url)


def test_the_job_queue_revision_downgrades_and_upgrades_again(url: str) -> None:
    """0007 (uploads, and on PostgreSQL procrastinate's queue schema) leaves nothing behind when it
    is taken back, so an operator can step back one release and forward again."""
    from alembic import command

    engine = create_engine(url, timeout=10.0)
    try:
        migrate(engine)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        names = set(sa.inspect(engine).get_table_names())
        assert "uploads" not in names
        assert not {name for name in names if name.startswith("procrastinate_")}
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                left = conn.scalar(
                    sa.text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'")
                )
                types = conn.scalar(
                    sa.text("SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%'")
                )
            assert (left, types) == (0, 0)
        migrate(engine)
        assert revision(engine) == head()
        again = set(sa.inspect(engine).get_table_names())
        assert "uploads" in again
        assert ("procrastinate_jobs" in again) == (engine.dialect.name == "postgresql")
    finally:
        engine.dispose()
