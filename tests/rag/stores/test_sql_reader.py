"""The SELECT-only role of RAG_SQL_READER_URL, on a real PostgreSQL that checks passwords.

What the role may do is asked of the server itself: it reads the KBs' tables (those that exist
when it is granted, the tables of a KB made later, a table replaced by a re-ingest), and it is
refused everything else, outside any read-only transaction: writes, new tables, the ledger.
The SQL retriever's queries run as it, `rag doctor` says so, and warns when they run as a role
that can write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from rag.cli.app import app
from rag.config import Settings
from rag.doctor import check_sql_reader
from rag.embed import Embedder
from rag.generate.local import LocalChatModel
from rag.models import Column, Table
from rag.retrieve.factory import open_retrievers
from rag.retrieve.sql_exec import QueryFailed, run_guarded
from rag.stores.sql import SqlStore
from rag.stores.sql.kb_tables import write_table
from rag.stores.sql.reader import ReaderRoleError, grant_reader, reader_login, reader_report
from rag.stores.sql.schema import metadata
from tests.builders import ingest_folders, open_test_stores
from tests.postgres import create_database, drop_database
from tests.secrets_in_logs import SESSION

PASSWORD = SESSION.secret("reader-" + uuid.uuid4().hex, "the SQL reader role's password") or ""


def orders(amount: int = 10) -> Table:
    return Table(
        name="orders", columns=[Column("id", "integer"), Column("amount", "integer")], rows=[[1, amount]]
    )


@dataclass
class Database:
    url: str  # the writer's
    reader_url: str
    role: str
    store: SqlStore

    def reader(self, password: str = PASSWORD) -> Engine:
        url = sa.engine.make_url(self.reader_url).set(password=password)
        return sa.create_engine(url, pool_pre_ping=True)


def _drop_role(server_url: str, role: str) -> None:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


@pytest.fixture
def database(postgres_url: str) -> Iterator[Database]:
    """A fresh database with KB `sales` (table `orders`), its writer's store, and the URL of a
    reader role not yet created (roles are the server's, so each test names its own)."""
    url = create_database(postgres_url, "reader")
    role = f"reader_{uuid.uuid4().hex[:8]}"
    reader_url = (
        sa.engine.make_url(url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
    )
    store = SqlStore(url)
    store.create_kb("sales")
    with store.engine.begin() as conn:
        write_table(conn, "sales", "orders", orders())
    yield Database(url, reader_url, role, store)
    store.close()
    drop_database(postgres_url, url)  # with it the role's grants and default privileges
    _drop_role(postgres_url, role)


def select_all(engine: Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]


def refused(engine: Engine, statement: str) -> str:
    """The server's refusal of `statement`, run in an ordinary (writable) transaction."""
    with pytest.raises(sa.exc.ProgrammingError) as info, engine.begin() as conn:
        conn.execute(sa.text(statement))
    return str(info.value.orig)


def test_the_reader_reads_kb_tables_and_nothing_else(database: Database) -> None:
    assert grant_reader(database.store.engine, database.role, PASSWORD) == ["kb_sales"]
    reader = database.reader()
    try:
        assert select_all(reader, "kb_sales.orders") == [(1, 10)]
        for statement in (
            "INSERT INTO kb_sales.orders VALUES (2, 20)",
            "UPDATE kb_sales.orders SET amount = 0",
            "DELETE FROM kb_sales.orders",
            "TRUNCATE kb_sales.orders",
            "CREATE TABLE kb_sales.stolen (x int)",
            "CREATE TABLE public.stolen (x int)",
            "DROP TABLE kb_sales.orders",
        ):
            reason = refused(reader, statement)
            assert "permission denied" in reason or "must be owner" in reason, statement
        for table in metadata.sorted_tables:  # the ledger: documents, chunks, api_keys, conversations…
            assert "permission denied" in refused(reader, f"SELECT * FROM public.{table.name}"), table.name
    finally:
        reader.dispose()
    assert select_all(database.store.engine, "kb_sales.orders") == [(1, 10)]


def test_kbs_made_and_tables_replaced_after_the_grant_are_readable(database: Database) -> None:
    grant_reader(database.store.engine, database.role, PASSWORD)
    database.store.create_kb("later")
    with database.store.engine.begin() as conn:
        write_table(conn, "later", "orders", orders(30))  # a new schema
        write_table(conn, "sales", "orders", orders(20))  # a re-ingest: dropped and created again
    reader = database.reader()
    try:
        assert select_all(reader, "kb_later.orders") == [(1, 30)]
        assert select_all(reader, "kb_sales.orders") == [(1, 20)]
    finally:
        reader.dispose()


def test_the_password_is_checked_and_never_sent_to_the_server(database: Database) -> None:
    grant_reader(database.store.engine, database.role, PASSWORD)
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        database.reader("wrong").connect()
    with database.store.engine.connect() as conn:
        stored = conn.scalar(
            sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": database.role}
        )
    assert stored.startswith("SCRAM-SHA-256$4096:") and PASSWORD not in stored
    # granting again (a new password, or the same) keeps it working
    grant_reader(database.store.engine, database.role, PASSWORD)
    select_all(database.reader(), "kb_sales.orders")


def test_a_reader_that_is_the_writer_or_a_superuser_is_refused(database: Database) -> None:
    with pytest.raises(ReaderRoleError, match="the writing role"):
        grant_reader(database.store.engine, "rag", PASSWORD)
    with database.store.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{database.role}" LOGIN SUPERUSER'))
    with pytest.raises(ReaderRoleError, match="plain LOGIN role"):
        grant_reader(database.store.engine, database.role, PASSWORD)


def test_a_reader_url_of_another_database_or_backend_is_refused(database: Database, tmp_path: Path) -> None:
    other = sa.engine.make_url(database.reader_url).set(database="elsewhere").render_as_string(False)
    with pytest.raises(ReaderRoleError, match="the database of RAG_SQL_URL"):
        reader_login(database.url, other)
    with pytest.raises(ReaderRoleError, match="needs PostgreSQL"):
        reader_login(f"sqlite:///{tmp_path / 'x.db'}", database.reader_url)
    assert reader_login(database.url, database.reader_url) == (database.role, PASSWORD)
    with pytest.raises(ValueError, match="RAG_SQL_READER_URL needs RAG_SQL_URL on PostgreSQL"):
        SqlStore(f"sqlite:///{tmp_path / 'x.db'}", reader_url=database.reader_url)


def test_queries_the_model_writes_run_as_the_reader(database: Database) -> None:
    """run_guarded on the store's reader engine, with what the guard would never pass: the role
    refuses it even where the read-only transaction would not (a read of the ledger)."""
    grant_reader(database.store.engine, database.role, PASSWORD)
    store = SqlStore(database.url, reader_url=database.reader_url)
    try:
        assert run_guarded(
            store.reader_engine, "SELECT amount FROM kb_sales.orders", timeout_s=5, max_rows=5
        ) == (
            ["amount"],
            [(10,)],
        )
        with pytest.raises(QueryFailed, match="permission denied for table api_keys"):
            run_guarded(store.reader_engine, "SELECT * FROM public.api_keys", timeout_s=5, max_rows=5)
        # the writer may read the ledger: what the reader prevents
        assert run_guarded(store.engine, "SELECT count(*) FROM public.api_keys", timeout_s=5, max_rows=5)[
            1
        ] == [(0,)]
    finally:
        store.close()


def test_doctor_warns_when_the_sql_retriever_runs_as_a_role_that_can_write(database: Database) -> None:
    writer = check_sql_reader(Settings(sql_url=database.url), database.store)
    assert writer.ok and writer.warn
    assert "run as rag, which can write: role rag is superuser" in writer.detail
    assert "set RAG_SQL_READER_URL" in writer.detail

    grant_reader(database.store.engine, database.role, PASSWORD)
    settings = Settings(sql_url=database.url, sql_reader_url=database.reader_url)
    store = SqlStore(database.url, reader_url=database.reader_url)
    try:
        check = check_sql_reader(settings, store)
        assert (check.ok, check.warn) == (True, False), check.detail
        assert (
            check.detail == f"queries the model writes run as {database.role}, which may only read KB tables"
        )
        assert PASSWORD not in check.detail
        report = reader_report(store.reader_engine)
        assert (report.can_write, report.ledger_tables) == (False, [])
        # a privilege the reader should not have is named
        with database.store.engine.begin() as conn:
            conn.execute(sa.text(f'GRANT INSERT ON kb_sales.orders, public.documents TO "{database.role}"'))
            conn.execute(sa.text(f'GRANT SELECT ON public.api_keys TO "{database.role}"'))
        check = check_sql_reader(settings, store)
        assert (
            check.warn
            and "can write: it may write 2 tables; it may read the ledger (api_keys…)" in check.detail
        )
    finally:
        store.close()


def test_doctor_fails_a_reader_that_cannot_log_in_or_read_a_kb(database: Database) -> None:
    settings = Settings(sql_url=database.url, sql_reader_url=database.reader_url)
    store = SqlStore(database.url, reader_url=database.reader_url)  # the role does not exist yet
    try:
        check = check_sql_reader(settings, store)
        assert not check.ok and "RAG_SQL_READER_URL cannot connect" in check.detail
        assert PASSWORD not in check.detail
        with database.store.engine.begin() as conn:
            conn.execute(sa.text(f"CREATE ROLE \"{database.role}\" LOGIN PASSWORD '{PASSWORD}'"))
        check = check_sql_reader(settings, store)
        assert not check.ok and check.detail.endswith(
            "cannot read KB schemas kb_sales: run rag kb grant-reader"
        )
    finally:
        store.close()


def test_doctor_says_what_protects_the_queries_on_sqlite(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'rag.sqlite3'}")
    try:
        check = check_sql_reader(Settings(data_dir=tmp_path), store)
    finally:
        store.close()
    assert check.ok and not check.warn and "query_only connection" in check.detail


def test_rag_kb_grant_reader_creates_the_role(database: Database, tmp_path: Path) -> None:
    env = {"RAG_DATA_DIR": str(tmp_path), "RAG_SQL_URL": database.url, "COLUMNS": "250"}
    result = CliRunner().invoke(app, ["kb", "grant-reader"], env=env)
    assert result.exit_code == 2 and "set RAG_SQL_READER_URL" in result.stderr
    result = CliRunner().invoke(
        app, ["kb", "grant-reader"], env={**env, "RAG_SQL_READER_URL": database.reader_url}
    )
    assert result.exit_code == 0, result.stderr
    assert f"{database.role} may read the tables of 1 KB schemas" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert select_all(database.reader(), "kb_sales.orders") == [(1, 10)]


TICKETS = "ticket_id,subject,priority\nT-1,Printer,high\nT-2,VPN,low\nT-3,Laptop,high\nT-4,Monitor,medium\n"


def test_the_sql_retriever_answers_through_the_reader(
    database: Database, tmp_path: Path, embedder: Embedder, sql_model: LocalChatModel
) -> None:
    """Ingested by the writer after the grant, queried by a query the real model wrote, run as the reader."""
    grant_reader(database.store.engine, database.role, PASSWORD)
    folder = tmp_path / "helpdesk"
    folder.mkdir()
    (folder / "tickets.csv").write_text(TICKETS, encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", sql_url=database.url, sql_reader_url=database.reader_url)
    with open_test_stores(settings) as stores:
        ingest_folders(stores, embedder, {"helpdesk": folder})
        assert stores.sql.reader_engine.url.username == database.role
        [retriever] = open_retrievers(stores, embedder, ["sql"], sql_model)
        [result] = retriever.gather("How many tickets are high priority?", "helpdesk", 5).tables
    assert result.rows == [(2,)], result.sql
