"""`rag serve`: the HTTP API, kept to 127.0.0.1 while no API key exists.

It holds the embedded stores as long as it runs, so it records where it listens beside the lock
(`rag.stores.server_record`): the `rag` commands of the same user on that data folder then send
their work to it (`rag.cli.remote`) instead of stopping on the lock.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from rag.cli.support import err, fail, load_settings, with_stores


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the HTTP API (docs at /docs). With no key at all, it listens on 127.0.0.1 only.

    While it runs, rag ingest, ask, retrieve, status, kb and docs on the same data folder go
    through it."""
    import uvicorn

    from api.app import create_app
    from rag.stores.sql.keys import ApiKeys

    settings = load_settings()
    if settings.ingest_queue:
        from ingest.jobs import QueueUnavailable
        from ingest.jobs.app import conninfo

        try:
            conninfo(settings)
        except QueueUnavailable as exc:
            raise fail(f"RAG_INGEST_QUEUE: {exc}") from None
    keyed = bool(settings.admin_key.get_secret_value()) or with_stores(
        lambda stores: ApiKeys(stores.sql.engine).any()
    )
    if not keyed and host != "127.0.0.1":
        err.print(
            f"[yellow]no API key exists[/], so the service is open to anyone who reaches it: "
            f"listening on 127.0.0.1 instead of {escape(host)} (rag keys create, or RAG_ADMIN_KEY)",
            highlight=False,
        )
        host = "127.0.0.1"
    elif not keyed:
        err.print("[yellow]no API key exists[/]: open to local clients only (127.0.0.1)", highlight=False)
    uvicorn.run(create_app(settings, local_url(host, port)), host=host, port=port, log_level="info")


def local_url(host: str, port: int) -> str | None:
    """Where the `rag` command on this machine reaches the server: a wildcard address through the
    loopback of its family; None for port 0 (the port is known only once bound), so no record."""
    if port == 0:
        return None
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
