"""The engine of the relational store and the migrations that bring its schema up to date.

Opening a store always runs the Alembic migrations to the newest revision (a no-op when the
database is already there), so a KB created by an older version of `rag` is upgraded the first
time a newer one opens it; there is no separate upgrade step to forget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from rag.common.reasons import one_line
from rag.config import sqlite_file
from rag.stores.errors import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
#: the advisory lock migrations hold on PostgreSQL (any constant; this one spells "ragmigr")
MIGRATION_LOCK = int.from_bytes(b"ragmigr", "big")


def create_engine(url: str, timeout: float) -> Engine:
    """An engine for `url`: SQLite with foreign keys on and WAL (its folder created), or a
    pre-pinged PostgreSQL pool; `timeout` bounds the wait for a lock or a connection."""
    if url.startswith("sqlite"):
        if (database := sqlite_file(url)) is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": timeout})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        connect_args={"connect_timeout": max(1, int(timeout))},
    )


def report_unavailable(engine: Engine, description: str) -> None:
    """Make a lost or refused connection raise StoreUnavailable naming the store, from any query.

    SQLAlchemy reports a server that went away (a killed backend, a restart) and one that refuses
    connections as `OperationalError`, which every caller would have to tell from a bad query's
    (a statement timeout and SQLite's syntax errors are `OperationalError` too). The engine knows
    the difference (`is_disconnect`, or no connection at all), so the rule lives here once: a
    request handler answers 503 naming the store, an ingest stops with the same line. The pool
    then replaces the dead connections (`pool_pre_ping`), so the store works again once the
    server is back, without a restart.
    """

    @sa.event.listens_for(engine, "handle_error")
    def _unavailable(context: sa.engine.ExceptionContext) -> None:
        if context.is_disconnect or context.connection is None:
            reason = one_line(context.original_exception) if context.original_exception else "lost"
            raise StoreUnavailable(f"{description} is unreachable: {reason}") from None


def check_reachable(engine: Engine, description: str) -> None:
    """Raise StoreUnavailable, naming the store and the driver's reason, unless a query runs."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise StoreUnavailable(f"{description} is unreachable: {one_line(exc, driver=True)}") from None


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default) in one transaction.

    On PostgreSQL the transaction first takes an advisory lock, so processes that start together
    on one database (replicas, workers) migrate one after the other, each later one finding the
    schema done: without it, all but one of three processes opening an empty database at once
    failed on a duplicate key of `pg_type` (each creating the same tables)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
