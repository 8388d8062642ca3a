"""`rag kb create|list|delete|grant-reader` and `rag docs list|delete`: KBs and their documents.

While `rag serve` holds the data folder, all but grant-reader (which touches no embedded store)
go through its API (`rag.cli.remote`) and print what they print here.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from rag.cli.remote import Remote, forwarding_server
from rag.cli.render import Columns, show_rows
from rag.cli.support import JsonOption, KbOption, configured_stores, fail, load_settings, out, with_stores

kb_app = typer.Typer(help="Create, list and delete knowledge bases.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete documents.", no_args_is_help=True)
#: documents per request when paging a KB of `rag serve` (the API's largest page)
_PAGE = 500


@kb_app.command("create")
def kb_create(name: str, description: Annotated[str, typer.Option(help="What the KB holds")] = "") -> None:
    """Create a knowledge base."""
    remote = forwarding_server()
    if remote is not None:
        with remote:
            body = {"name": name, "description": description}
            created = remote.send("POST", "/v1/knowledge-bases", body=body, expect=(409,)).status_code != 409
    else:
        created = with_stores(lambda s: s.sql.create_kb(name, description))
    out.print(f"created {name!r}" if created else f"{name!r} already exists")


@kb_app.command("list")
def kb_list(as_json: JsonOption = False) -> None:
    """List knowledge bases with their document counts."""
    remote = forwarding_server()
    if remote is not None:
        with remote:
            rows = remote.send("GET", "/v1/knowledge-bases").json()["knowledge_bases"]
        for row in rows:  # a datetime again, shown as a local run shows it
            row["created_at"] = datetime.fromisoformat(row["created_at"])
    else:
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
    remote = forwarding_server()
    if remote is not None:
        with remote:  # the server's 404 says "no knowledge base named …" as below
            remote.send("DELETE", f"/v1/knowledge-bases/{quote(name, safe='')}")
        out.print(f"deleted {name!r}")
        return
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
    remote = forwarding_server()
    if remote is not None:
        with remote:
            ids = _remote_matches(remote, ref, kb)
            if not ids:
                raise fail(f"no document with id or source {ref!r}")
            for doc_id in ids:
                remote.send("DELETE", f"/v1/documents/{quote(doc_id, safe='')}")
        out.print(f"deleted {len(ids)} document(s)")
        return
    with configured_stores() as stores:
        found = (stores.sql.find_documents(source, kb) for source in _sources_named(ref))
        entries = next((entries for entries in found if entries), [])
        if not entries:
            raise fail(f"no document with id or source {ref!r}")
        count = stores.delete_documents(entries)
    out.print(f"deleted {count} document(s)")


def _remote_matches(remote: Remote, ref: str, kb: str | None) -> list[str]:
    """The ids of the documents `ref` names on the server, as `find_documents` finds them here: the
    document of that id, else those whose source is `ref` (or the file it names), in `kb` or any."""
    found = remote.send("GET", f"/v1/documents/{quote(ref, safe='')}", expect=(404,))
    if found.status_code != 404 and kb in (None, found.json()["kb"]):
        return [ref]
    kbs = (
        [kb]
        if kb
        else [row["name"] for row in remote.send("GET", "/v1/knowledge-bases").json()["knowledge_bases"]]
    )
    listed = [doc for name in kbs for doc in _remote_documents(remote, name)]
    for source in _sources_named(ref):
        if ids := [doc["id"] for doc in listed if doc["source"] == source]:
            return ids
    return []


def _sources_named(ref: str) -> list[str]:
    """What a `docs delete` reference may name, in the order it is tried: the text itself (an id,
    or a source as the ledger records it), then the file it names, resolved as ingest records it."""
    resolved = str(Path(ref).resolve()) if Path(ref).exists() else ref
    return list(dict.fromkeys([ref, resolved]))


def _remote_documents(remote: Remote, kb: str) -> list[dict[str, Any]]:
    """Every document of a KB on the server, a page at a time; none for a KB it does not have (a
    local run lists none either)."""
    documents: list[dict[str, Any]] = []
    while True:
        params = {"offset": len(documents), "limit": _PAGE}
        page = remote.send(
            "GET", f"/v1/knowledge-bases/{quote(kb, safe='')}/documents", params=params, expect=(404,)
        )
        if page.status_code == 404:
            return documents
        body = page.json()
        documents.extend(body["documents"])
        if not body["documents"] or len(documents) >= body["total"]:
            return documents


@docs_app.command("list")
def docs_list(kb: KbOption = "default", as_json: JsonOption = False) -> None:
    """List the documents of a knowledge base with their state."""
    remote = forwarding_server()
    if remote is not None:
        with remote:
            shown = _remote_documents(remote, kb)
        rows = [
            {"id": d["id"], "source": d["source"], "status": d["status"], "chunks": d["chunk_count"]}
            for d in shown
        ]
    else:
        entries = with_stores(lambda s: s.sql.documents_in_kb(kb))
        rows = [
            {"id": e.id, "source": e.source, "status": e.status, "chunks": e.chunk_count} for e in entries
        ]
    columns: Columns = {
        name: lambda row, name=name: row[name] for name in ("id", "status", "chunks", "source")
    }
    show_rows(rows, as_json, f"documents in {kb!r}", columns)
