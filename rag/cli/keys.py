"""`rag keys create|list|revoke`: the API keys of the HTTP service (only their hashes are stored)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from rag.cli.render import Columns, show_rows
from rag.cli.support import JsonOption, configured_stores, err, fail, out, with_stores

keys_app = typer.Typer(help="Create, list and revoke API keys of the HTTP service.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    kbs: Annotated[list[str], typer.Option("--kb", help="A KB the key may use (repeat for more)")],
    write: Annotated[bool, typer.Option("--write", help="Also upload and delete documents")] = False,
) -> None:
    """Print a new key once, alone on the last line; only its hash is stored."""
    from rag.stores.sql.keys import ApiKeys

    with configured_stores() as stores:
        missing = [kb for kb in kbs if not stores.sql.kb_exists(kb)]
        if missing:
            raise fail(f"no knowledge base named {', '.join(map(repr, missing))} (rag kb create NAME)")
        key_id, secret = ApiKeys(stores.sql.engine).create(kbs, can_write=write)
    access = "read and write" if write else "read"
    err.print(
        f"key {key_id}: {access} {', '.join(kbs)}; store it now, it is not shown again", highlight=False
    )
    print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """Every key's id, KBs and access (never the key itself)."""
    from rag.stores.sql.keys import ApiKeys

    rows = with_stores(lambda stores: ApiKeys(stores.sql.engine).list())
    columns: Columns = {
        "id": lambda row: row["id"],
        "knowledge bases": lambda row: ", ".join(row["kbs"]),
        "access": lambda row: "read, write" if row["can_write"] else "read",
        "created": lambda row: str(row["created_at"])[:19],
    }
    show_rows(rows, as_json, "API keys", columns)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (rag keys list)")]) -> None:
    """Revoke a key: requests with it are refused at once."""
    from rag.stores.sql.keys import ApiKeys

    if not with_stores(lambda stores: ApiKeys(stores.sql.engine).revoke(key_id)):
        raise fail(f"no key with id {key_id!r}")
    out.print(f"revoked {escape(key_id)}")
