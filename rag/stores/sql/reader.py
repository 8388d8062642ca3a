"""A PostgreSQL role that may only read the KBs' own tables: where the SQL retriever's queries run.

The guard and the read-only transaction stop what they know of; a role that holds no other
privilege stops the rest, whatever a query that got past both tried: it can SELECT the tables
in the KB schemas (`kb_<slug>`) and nothing else, not the ledger (`documents`, `chunks`,
`api_keys`, `conversation_turns`… in `public`), and it can write nowhere.

`grant_reader` (run by `rag kb grant-reader` as the writing role of `RAG_SQL_URL`) creates the
login role of `RAG_SQL_READER_URL` when missing and grants it, for the KBs that exist, USAGE on
their schemas and SELECT on their tables; for the KBs to come, a default privilege gives it
USAGE on every schema the writer creates later. Tables are replaced on every re-ingest and
made in new schemas, so `kb_tables.write_table` grants SELECT on each table it creates to the
roles that hold USAGE on its schema: one rule, "who may use a
KB's schema may read its tables", kept by the writer, with no default privilege on tables that
would reach the ledger's future tables as well.

`reader_report` says what the role the retriever runs as can do beyond that, for `rag doctor`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import sql as pg_sql
from sqlalchemy.engine import Connection, Engine

from rag.stores.sql.kb_tables import kb_namespace
from rag.stores.sql.schema import knowledge_bases, metadata

#: Schemas that every role reads and no grant changes; never counted against the reader.
_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"


class ReaderRoleError(RuntimeError):
    """The reader role cannot be set up as asked; the message says what to do."""


@dataclass(slots=True)
class ReaderReport:
    """What the role the SQL retriever connects as may do, beyond reading KB tables."""

    role: str
    database: str
    #: role attributes that defeat any grant: superuser, bypassrls, createrole, createdb
    attributes: list[str] = field(default_factory=list)
    #: tables outside the system schemas it may change (INSERT, UPDATE, DELETE, TRUNCATE)
    writable_tables: int = 0
    #: schemas it may create objects in
    creatable_schemas: list[str] = field(default_factory=list)
    #: ledger tables it may SELECT
    ledger_tables: list[str] = field(default_factory=list)
    #: KB schemas it may not read (USAGE missing), so the SQL retriever fails there
    unreadable_kb_schemas: list[str] = field(default_factory=list)

    @property
    def can_write(self) -> bool:
        return bool(self.attributes or self.writable_tables or self.creatable_schemas)

    def problems(self) -> list[str]:
        """One phrase per excess privilege, for a warning."""
        found = []
        if self.attributes:
            found.append(f"role {self.role} is {'/'.join(self.attributes)}")
        if self.writable_tables:
            found.append(f"it may write {self.writable_tables} tables")
        if self.creatable_schemas:
            found.append(f"it may create objects in schema {', '.join(self.creatable_schemas)}")
        if self.ledger_tables:
            found.append(f"it may read the ledger ({', '.join(self.ledger_tables[:3])}…)")
        return found


def reader_login(sql_url: str, reader_url: str) -> tuple[str, str | None]:
    """The role and password `reader_url` logs in with, once it is known to name the database of
    `sql_url` (a reader of another database would make every query fail: no such table)."""
    writer, reader = sa.engine.make_url(sql_url), sa.engine.make_url(reader_url)
    if writer.get_backend_name() != "postgresql" or reader.get_backend_name() != "postgresql":
        raise ReaderRoleError(
            "RAG_SQL_READER_URL needs PostgreSQL, in RAG_SQL_URL as well (SQLite has no roles)"
        )
    if (writer.host, writer.port, writer.database) != (reader.host, reader.port, reader.database):
        raise ReaderRoleError(
            "RAG_SQL_READER_URL must name the database of RAG_SQL_URL (same host, port and name)"
        )
    if not reader.username:
        raise ReaderRoleError(
            "RAG_SQL_READER_URL names no user: postgresql+psycopg://reader:PASSWORD@host/db"
        )
    return reader.username, reader.password


#: PBKDF2 rounds of a SCRAM verifier: PostgreSQL's own default (`scram_iterations`)
_SCRAM_ITERATIONS = 4096


def scram_verifier(password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, 7677), computed here
    so that the password itself never reaches the server: not in a statement the server may log
    (a failed `CREATE ROLE … PASSWORD 'x'` is logged whole by default), nor in pg_stat_activity.
    ASCII only: PostgreSQL would SASLprep other text first, which this does not reproduce."""
    if not password.isascii():
        raise ReaderRoleError("the reader's password must be ASCII (letters, digits, punctuation)")
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _literal(conn: Connection, text: str) -> str:
    """`text` as a string literal of this connection (role DDL takes no bind parameters), for
    `exec_driver_sql`: SQLAlchemy's `text()` would read `:name` in it as a parameter."""
    return pg_sql.Literal(text).as_string(conn.connection.driver_connection)


def kb_schemas(conn: Connection) -> list[str]:
    """The schemas of the KBs in the ledger that exist (a KB without tables has none)."""
    wanted = {kb_namespace(name) for name in conn.scalars(sa.select(knowledge_bases.c.name))}
    existing = set(conn.scalars(sa.text("SELECT nspname FROM pg_namespace")))
    return sorted(wanted & existing)


def grant_reader(engine: Engine, role: str, password: str | None) -> list[str]:
    """Create `role` (LOGIN, no other attribute) if missing, else set its password when given,
    and grant it the KB schemas' tables, now and to come; returns the KB schemas granted.

    Refuses a role that is the writer itself or holds attributes no grant can take back.
    """
    if engine.dialect.name != "postgresql":
        raise ReaderRoleError(
            "a reader role needs PostgreSQL: on SQLite the SQL retriever reads a query_only connection"
        )
    with engine.begin() as conn:
        writer = conn.scalar(sa.text("SELECT current_user"))
        if role == writer:
            raise ReaderRoleError(
                f"RAG_SQL_READER_URL names {role}, the writing role of RAG_SQL_URL: name another role"
            )
        quoted = _quote(conn, role)
        found = conn.execute(
            sa.text(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).first()
        if found is None:
            if password is None:
                raise ReaderRoleError(
                    f"role {role} does not exist: give RAG_SQL_READER_URL a password to create it"
                )
            if not conn.scalar(
                sa.text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")
            ):
                raise ReaderRoleError(
                    f"{writer} may not create roles: have an administrator run "
                    f"CREATE ROLE {quoted} LOGIN PASSWORD '…' NOINHERIT, then run this again"
                )
            verifier = _literal(conn, scram_verifier(password))
            conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN PASSWORD {verifier} NOINHERIT")
        elif any(found):
            raise ReaderRoleError(
                f"role {role} is a superuser or may bypass row security, create roles or databases: "
                "a reader must be a plain LOGIN role"
            )
        elif password is not None:
            conn.exec_driver_sql(f"ALTER ROLE {quoted} PASSWORD {_literal(conn, scram_verifier(password))}")
        database = _quote(conn, conn.scalar(sa.text("SELECT current_database()")))
        conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {database} TO {quoted}"))
        schemas = kb_schemas(conn)
        for schema in schemas:
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {_quote(conn, schema)} TO {quoted}"))
            conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_quote(conn, schema)} TO {quoted}"))
        # KB schemas are created by this role at a KB's first table; write_table grants their tables
        conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {quoted}"))
    return schemas


def reader_report(engine: Engine) -> ReaderReport:
    """What the role of `engine` may do: attributes, writable tables, schemas it may create in,
    ledger tables it may read, and KB schemas it cannot use."""
    ledger = sorted(table.name for table in metadata.sorted_tables)
    with engine.connect() as conn:
        role, database = conn.execute(sa.text("SELECT current_user, current_database()")).one()
        attributes = conn.execute(
            sa.text(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                "WHERE rolname = current_user"
            )
        ).one()
        names = ("superuser", "bypassrls", "createrole", "createdb")
        writable = conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                f"WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {_SYSTEM_SCHEMAS} "
                "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
                "AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')"
            )
        )
        creatable = conn.scalars(
            sa.text(
                f"SELECT nspname FROM pg_namespace WHERE nspname NOT IN {_SYSTEM_SCHEMAS} "
                "AND nspname NOT LIKE 'pg_%' AND has_schema_privilege(oid, 'CREATE') ORDER BY nspname"
            )
        ).all()
        readable = conn.scalars(
            sa.text(
                "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname = ANY(:names) "
                "AND has_table_privilege(c.oid, 'SELECT') ORDER BY c.relname"
            ),
            {"names": ledger},
        ).all()
        unreadable = [
            schema
            for schema in _kb_schemas_of_reader(conn)
            if not conn.scalar(sa.text("SELECT has_schema_privilege(:s, 'USAGE')"), {"s": schema})
        ]
    return ReaderReport(
        role=role,
        database=database,
        attributes=[name for name, held in zip(names, attributes, strict=True) if held],
        writable_tables=writable,
        creatable_schemas=list(creatable),
        ledger_tables=list(readable),
        unreadable_kb_schemas=unreadable,
    )


def _kb_schemas_of_reader(conn: Connection) -> list[str]:
    """KB-looking schemas (`kb_…`); the reader may not read the ledger's list of KBs."""
    return list(
        conn.scalars(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kb\\_%' ORDER BY 1"))
    )
