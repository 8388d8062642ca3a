"""Tables of a knowledge base as real SQL tables, in the KB's own namespace.

PostgreSQL gets a schema per knowledge base (`kb_<slug>.<table>`), so dropping a KB is one
`DROP SCHEMA … CASCADE` and text-to-SQL can be confined to one schema. SQLite has no
schemas, so the namespace becomes a table-name prefix (`kb_<slug>__<table>`) in the main
database.

Identifiers are made *safe* once, here, for both engines: lower case, letters (any script,
so Chinese names stay readable), digits and `_`, never starting with a digit, never a
reserved word, at most 63 bytes (PostgreSQL silently truncates longer names, which could
merge two). Such a name means the same thing quoted or unquoted in PostgreSQL and SQLite,
so SQL written by hand or by an LLM needs no quoting rules. Every function takes a
`Connection` whose transaction belongs to the caller, so a table lands or goes together
with its ledger rows.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as _PG_RESERVED
from sqlalchemy.engine import Connection

from rag.models import Table

#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated by the server.
MAX_IDENTIFIER_BYTES = 63
#: Words that cannot be an unquoted column or table name: PostgreSQL's reserved words plus
#: SQLite's keywords that have no fallback to an identifier in its grammar.
_RESERVED = frozenset(_PG_RESERVED) | {
    "add",
    "alter",
    "autoincrement",
    "commit",
    "delete",
    "drop",
    "escape",
    "exists",
    "if",
    "index",
    "indexed",
    "insert",
    "nothing",
    "set",
    "transaction",
    "update",
    "values",
}
_NOT_WORD = re.compile(r"[\W_]+")
_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_SLUG_MAX = 20
_ROWS_PER_INSERT = 5000
_INT32 = 2**31 - 1

_SQL_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "decimal": sa.Numeric(),
    "date": sa.Date(),
    "datetime": sa.DateTime(),
    "boolean": sa.Boolean(),
    "text": sa.Text(),
}


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def sql_identifier(text: str, prefix: str, fallback: str | None = None) -> str:
    """A safe identifier for `text` (see the module docstring); idempotent.

    `prefix` names what the identifier is ("column", "table") and goes before a name that
    starts with a digit (`2024` → `column_2024`); `fallback` (default: the prefix) stands in
    for a name with no letters or digits. A reserved word gets a trailing `_` (`order` →
    `order_`); a name over 63 bytes keeps its start plus a hash of the whole, so two long
    names stay distinct.
    """
    name = _NOT_WORD.sub("_", unicodedata.normalize("NFKC", text).lower()).strip("_")
    if not name:
        name = fallback or prefix
    elif name[0].isdigit():
        name = f"{prefix}_{name}"
    if name in _RESERVED:
        name += "_"
    if len(name.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
        name = f"{_cut_bytes(name, MAX_IDENTIFIER_BYTES - 9).rstrip('_')}_{_short_hash(name)}"
    return name


def is_safe_identifier(name: str) -> bool:
    """Whether `name` is already what `sql_identifier` would make of it."""
    return sql_identifier(name, "column") == name


def kb_namespace(kb: str) -> str:
    """`kb_<slug>`: the schema (PostgreSQL) or table-name prefix (SQLite) of a knowledge base.

    The slug keeps only `[a-z0-9_]` (plain ASCII, so it is safe in every identifier
    position), never has `__` or a trailing `_` (so a SQLite prefix `kb_<slug>__` can never
    match another KB's tables), and gets a hash of the KB name whenever the name had to
    change (`Sales` → `sales_<hash>`) or was long, so two KB names never share a namespace.
    """
    base = _SLUG_CHARS.sub("_", kb.lower()).strip("_")
    if base and base == kb and len(base) <= _SLUG_MAX:
        return f"kb_{base}"
    base = base[:_SLUG_MAX].rstrip("_")
    return f"kb_{base}_{_short_hash(kb)}" if base else f"kb_{_short_hash(kb)}"


def _uses_schemas(conn: Connection) -> bool:
    return conn.dialect.name != "sqlite"


def _sql_table(conn: Connection, kb: str, name: str, columns: list[sa.Column[Any]]) -> sa.Table:
    namespace = kb_namespace(kb)
    if _uses_schemas(conn):
        return sa.Table(name, sa.MetaData(), *columns, schema=namespace)
    return sa.Table(f"{namespace}__{name}", sa.MetaData(), *columns)


def _qualified(table: sa.Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _integer_type(table: Table, index: int) -> sa.types.TypeEngine[Any]:
    values = [row[index] for row in table.rows if row[index] is not None]
    if values and (max(values) > _INT32 or min(values) < -_INT32 - 1):
        return sa.BigInteger()
    return sa.Integer()


def _sql_columns(table: Table) -> list[sa.Column[Any]]:
    """Typed columns; names must already be safe (renaming here would desync the catalogue)."""
    names = [column.name for column in table.columns]
    if not names:
        raise ValueError(f"table {table.name!r} has no columns")
    if len(set(names)) != len(names):
        raise ValueError(f"table {table.name!r} has duplicate column names: {names}")
    columns = []
    for index, column in enumerate(table.columns):
        if not is_safe_identifier(column.name):
            raise ValueError(
                f"column name {column.name!r} is not a safe identifier; "
                f"shape the table with ingest.tables (it would be {sql_identifier(column.name, 'column')!r})"
            )
        if column.type == "integer":
            sql_type = _integer_type(table, index)
        elif column.type in _SQL_TYPES:
            sql_type = _SQL_TYPES[column.type]
        else:
            raise ValueError(f"column {column.name!r} has unknown type {column.type!r}")
        columns.append(sa.Column(column.name, sql_type))
    return columns


def _row_batches(names: list[str], rows: list[list[Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        yield [dict(zip(names, row, strict=True)) for row in rows[start : start + _ROWS_PER_INSERT]]


def write_table(conn: Connection, kb: str, table_name: str, table: Table) -> str:
    """Create (or replace) `table_name` in the KB's namespace and fill it; returns its qualified name.

    Replacing (drop, then create) makes re-ingesting a changed file converge on its new shape.
    Rows go in by COPY on PostgreSQL (psycopg) and by executemany batches elsewhere, never one
    round trip per row. The returned name
    (`kb_sales.orders` or `kb_sales__orders`) is valid SQL as written, unquoted.
    """
    columns = _sql_columns(table)
    sql_table = _sql_table(conn, kb, sql_identifier(table_name, "table"), columns)
    if sql_table.schema:
        conn.execute(sa.schema.CreateSchema(sql_table.schema, if_not_exists=True))
    sql_table.drop(conn, checkfirst=True)
    sql_table.create(conn)
    if sql_table.schema:
        _grant_to_schema_users(conn, sql_table)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_rows(conn, sql_table, table.rows)
    else:
        names = [column.name for column in columns]
        for batch in _row_batches(names, table.rows):
            conn.execute(sql_table.insert(), batch)
    return _qualified(sql_table)


_SCHEMA_USERS = sa.text(
    "SELECT r.rolname FROM pg_namespace AS n CROSS JOIN LATERAL aclexplode(n.nspacl) AS a "
    "JOIN pg_roles AS r ON r.oid = a.grantee "
    "WHERE n.nspname = :schema AND a.privilege_type = 'USAGE' AND a.grantee <> n.nspowner"
)


def _grant_to_schema_users(conn: Connection, sql_table: sa.Table) -> None:
    """Who may use a KB's schema may read its tables: SELECT on the table just created to every
    role holding USAGE on its schema (the SQL reader role of `rag.stores.sql.reader`, which a
    default privilege gives USAGE on each new schema); nothing where no reader was set up."""
    preparer = conn.dialect.identifier_preparer
    for role in conn.scalars(_SCHEMA_USERS, {"schema": sql_table.schema}):
        conn.execute(
            sa.text(
                f"GRANT SELECT ON {preparer.format_table(sql_table)} TO {preparer.quote_identifier(role)}"
            )
        )


def _copy_rows(conn: Connection, sql_table: sa.Table, rows: list[list[Any]]) -> None:
    """PostgreSQL's COPY on the caller's transaction: ~15x faster than executemany (100k rows:
    0.3 s against 4.6 s), which psycopg pipelines but still sends as one statement per row."""
    preparer = conn.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(column.name) for column in sql_table.columns)
    statement = f"COPY {preparer.format_table(sql_table)} ({columns}) FROM STDIN"
    width = len(sql_table.columns)
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            if len(row) != width:
                raise ValueError(f"row of {len(row)} values for {width} columns: {row!r}")
            copy.write_row(row)


def drop_table(conn: Connection, kb: str, qualified_name: str) -> None:
    """Drop a table that `write_table` returned; a name outside the KB's namespace is refused."""
    namespace = kb_namespace(kb)
    if _uses_schemas(conn):
        schema, _, name = qualified_name.partition(".")
        if schema != namespace or not name:
            raise ValueError(f"{qualified_name!r} is not a table of knowledge base {kb!r}")
        sql_table = sa.Table(name, sa.MetaData(), schema=schema)
    else:
        if not qualified_name.startswith(f"{namespace}__"):
            raise ValueError(f"{qualified_name!r} is not a table of knowledge base {kb!r}")
        sql_table = sa.Table(qualified_name, sa.MetaData())
    sql_table.drop(conn, checkfirst=True)


def drop_kb_namespace(conn: Connection, kb: str) -> None:
    """Drop every table of the knowledge base (and its schema on PostgreSQL); a no-op if none."""
    namespace = kb_namespace(kb)
    if _uses_schemas(conn):
        conn.execute(sa.schema.DropSchema(namespace, cascade=True, if_exists=True))
        return
    prefix = f"{namespace}__"
    for name in sa.inspect(conn).get_table_names():
        if name.startswith(prefix):
            sa.Table(name, sa.MetaData()).drop(conn)
