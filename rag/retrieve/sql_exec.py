"""Running checked SQL where it cannot write and cannot run long, and showing its rows to a model.

`sql_guard.check_sql` decides what may run; this module is the database's own line of
defence behind it, so a query that slips past the guard still cannot change data or hold
the store: PostgreSQL runs it in a `READ ONLY` transaction with a `statement_timeout`;
SQLite, which has neither, runs it on a connection switched to `query_only` with a progress
handler that aborts past the deadline, and with a ceiling on the length of any string or blob:
the progress handler runs between virtual-machine steps, and one step of a recursive CTE that
doubles a string (`s || s`) copies gigabytes in the server's own process before the next check
(measured: 19 s and 3.1 GB of resident memory past a 1 s deadline without the ceiling).
The transaction always ends in a rollback.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection, Engine

from rag.common.reasons import one_line

#: SQLite virtual-machine steps between deadline checks: ~1 ms of work, negligible overhead.
_PROGRESS_STEPS = 10_000
#: Longest string or blob a query may read or build on SQLite, unless the caller says otherwise:
#: far above any cell an ingested table holds, far below what hurts the process.
MAX_VALUE_BYTES = 16 * 1024 * 1024
#: PostgreSQL's SQLSTATE for a statement cancelled by `statement_timeout`.
_QUERY_CANCELED = "57014"
#: Longest cell of a prompt table: long texts belong to chunks, not to a result table.
MAX_CELL_CHARS = 60


class QueryFailed(RuntimeError):
    """The database refused or failed the query; the message is its one-line reason (what a
    repair prompt shows the model)."""


class QueryTimeout(QueryFailed):
    """The query ran past its time limit and was cancelled."""


Rows = list[tuple[Any, ...]]


def run_guarded(
    engine: Engine, sql: str, *, timeout_s: float, max_rows: int, max_value_bytes: int = MAX_VALUE_BYTES
) -> tuple[list[str], Rows]:
    """Column names and at most `max_rows` rows of `sql`, run read-only within `timeout_s`.

    On SQLite no string or blob may exceed `max_value_bytes` (PostgreSQL, in its own process,
    is bounded by its statement timeout and its 1 GB value limit).
    `sql` should come from `check_sql`; this function does not parse it. It goes to the
    driver's cursor without parameters, so neither SQLAlchemy nor psycopg reads `%` or `:name`
    in it as a placeholder. Raises `QueryTimeout` past the deadline and `QueryFailed` for any
    other database error (a write refused by the read-only transaction, a missing column…).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return _run_sqlite(conn, sql, timeout_s, max_rows, max_value_bytes)
        return _run_postgres(conn, sql, timeout_s, max_rows)


def _run_postgres(conn: Connection, sql: str, timeout_s: float, max_rows: int) -> tuple[list[str], Rows]:
    """The settings are transaction-scoped: the pool's rollback when `engine.connect()` ends
    hands the connection back without them. Outside a transaction (an engine in AUTOCOMMIT)
    they would be silently ignored, so the query is not run unless they took.

    The server must read the query as the guard did: with `standard_conforming_strings` off (a
    server or database setting) `'x\\'` would not end at its second quote, and text the guard
    read as a string literal would run as SQL (`' UNION SELECT … FROM kb_other.secrets --'`
    did, before this was pinned). The search path is pinned to the catalogue, so the allowed
    functions are the built-in ones, whatever schema a deployment puts first."""
    with conn.connection.driver_connection.cursor() as cursor:
        try:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(f"SET LOCAL statement_timeout = {max(1, round(timeout_s * 1000))}")
            cursor.execute("SET LOCAL standard_conforming_strings = on")
            cursor.execute("SET LOCAL search_path = pg_catalog, pg_temp")
            cursor.execute("SHOW transaction_read_only")
            if cursor.fetchone()[0] != "on":
                raise QueryFailed("no read-only transaction (is the engine in AUTOCOMMIT mode?)")
            return _fetch(cursor, sql, max_rows)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _failure(exc, getattr(exc, "sqlstate", None) == _QUERY_CANCELED) from None


def _run_sqlite(
    conn: Connection, sql: str, timeout_s: float, max_rows: int, max_value_bytes: int
) -> tuple[list[str], Rows]:
    """`query_only`, the progress handler and the length limit belong to the connection, not to
    a transaction: all are undone before the connection goes back to the pool, and a connection that cannot
    be undone is thrown away rather than handed to a writer."""
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + timeout_s
    timed_out = False

    def abort_past_deadline() -> bool:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline
        return timed_out

    raw.execute("PRAGMA query_only = ON")
    raw.set_progress_handler(abort_past_deadline, _PROGRESS_STEPS)
    length_limit = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
    cursor = raw.cursor()
    try:
        return _fetch(cursor, sql, max_rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _failure(exc, timed_out) from None
    finally:
        cursor.close()
        try:
            raw.set_progress_handler(None, 0)
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length_limit)
            raw.execute("PRAGMA query_only = OFF")
        except Exception:
            conn.invalidate()
            raise


def _fetch(cursor: Any, sql: str, max_rows: int) -> tuple[list[str], Rows]:
    cursor.execute(sql)
    columns = [column[0] for column in cursor.description or ()]
    return columns, [tuple(row) for row in cursor.fetchmany(max_rows)]


def _failure(exc: Exception, timed_out: bool) -> QueryFailed:
    if timed_out:
        return QueryTimeout("the query ran past its time limit and was cancelled")
    return QueryFailed(one_line(exc))


def rows_as_markdown(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, max_cell_chars: int = MAX_CELL_CHARS
) -> str:
    """A markdown table of the rows for the prompt: one line per row, cells cut to
    `max_cell_chars` (ending in `…`), `|` escaped and line breaks flattened so that a
    value can never break the table or start a line of its own."""
    lines = [_markdown_row(columns, max_cell_chars), "| " + " | ".join("---" for _ in columns) + " |"]
    lines += [_markdown_row([_text(value) for value in row], max_cell_chars) for row in rows]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str], max_chars: int) -> str:
    return "| " + " | ".join(_cell(cell, max_chars) for cell in cells) + " |"


def _cell(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text.replace("|", "\\|")


def _text(value: Any) -> str:
    """NULL as an empty cell, floats without binary noise (0.1 + 0.2 shows as 0.3)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)
