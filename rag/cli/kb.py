"""`rag kb create|list|delete|grant-reader` and `rag docs list|delete`: KBs and their documents."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from rag.cli.render import Columns, show_rows
from rag.cli.support import JsonOption, KbOption, configured_stores, fail, load_settings, out, with_stores

kb_app = typer.Typer(help="Create, list and delete knowledge bases.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete documents.", no_args_is_help=True)


@kb_app.command("create")
def kb_create(name: str, description: Annotated[str, typer.Option(help="What the KB holds")] = "") -> None:
    """Create a knowledge base."""
    created = with_stores(lambda s: s.sql.create_kb(name, description))
    out.print(f"created {name!r}" if created else f"{name!r} already exists")


@kb_app.command("list")
def kb_list(as_json: JsonOption = False) -> None:
    """List knowledge bases with their document counts."""
    rows = [asdict(row) for row in with_stores(lambda s: s.sql.list_kbs())]
    columns: Columns = {
        "name": lambda row: row["name"],
        "documents": lambda row: row["documents"],
        "description": lambda row: row["description"],
        "created_at": lambda row: str(row["created_at"])[:19],
    }
    show_rows(rows, as_json, "knowledge bases", columns)


@kb_app.command("delete")
def kb_delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False
) -> None:
    """Delete a knowledge base from every store."""

    if not yes:
        typer.confirm(f"delete knowledge base {name!r} and everything in it?", abort=True)
    with configured_stores() as stores:
        if not stores.sql.kb_exists(name):
            raise fail(f"no knowledge base named {name!r}")
        stores.delete_kb(name)
    out.print(f"deleted {name!r}")


@kb_app.command("grant-reader")
def kb_grant_reader() -> None:
    """Create RAG_SQL_READER_URL's role (PostgreSQL): it may read every KB's tables, now and to come,
    and nothing else; the SQL retriever's queries then run as it."""
    from rag.stores.errors import StoreUnavailable
    from rag.stores.sql import SqlStore
    from rag.stores.sql.reader import ReaderRoleError, grant_reader, reader_login

    settings = load_settings()
    if not settings.sql_reader_url:
        raise fail(
            "set RAG_SQL_READER_URL to postgresql+psycopg://reader:PASSWORD@host/db (RAG_SQL_URL's database)"
        )
    try:
        role, password = reader_login(settings.resolved_sql_url, settings.sql_reader_url)
        sql = SqlStore(settings.resolved_sql_url, timeout=settings.store_timeout_s)
    except (ReaderRoleError, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    try:
        schemas = grant_reader(sql.engine, role, password)
    except ReaderRoleError as exc:
        raise fail(str(exc)) from None
    finally:
        sql.close()
    out.print(
        f"{role} may read the tables of {len(schemas)} KB schemas and of every KB to come; nothing else"
    )


@docs_app.command("delete")
def docs_delete(
    ref: Annotated[str, typer.Argument(help="Document id or source path")],
    kb: Annotated[str | None, typer.Option("--kb", help="Only in this knowledge base")] = None,
) -> None:
    """Delete one document (by id or source path) from every store."""

    with configured_stores() as stores:
        entries = stores.sql.find_documents(ref, kb)
        if not entries and Path(ref).exists():
            entries = stores.sql.find_documents(str(Path(ref).resolve()), kb)
        if not entries:
            raise fail(f"no document with id or source {ref!r}")
        count = stores.delete_documents(entries)
    out.print(f"deleted {count} document(s)")


@docs_app.command("list")
def docs_list(kb: KbOption = "default", as_json: JsonOption = False) -> None:
    """List the documents of a knowledge base with their state."""
    entries = with_stores(lambda s: s.sql.documents_in_kb(kb))
    rows = [{"id": e.id, "source": e.source, "status": e.status, "chunks": e.chunk_count} for e in entries]
    columns: Columns = {
        name: lambda row, name=name: row[name] for name in ("id", "status", "chunks", "source")
    }
    show_rows(rows, as_json, f"documents in {kb!r}", columns)
