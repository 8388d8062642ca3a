"""`rag status`, `rag config` and `rag doctor`: what is stored, what is configured, what works."""

from __future__ import annotations

from typing import Annotated

import typer

from rag.cli.remote import forwarding_server
from rag.cli.render import print_checks, print_settings, print_status
from rag.cli.support import JsonOption, configured_stores, fail, load_settings, print_json


def status(
    kb: Annotated[str | None, typer.Option("--kb", help="One knowledge base")] = None,
    as_json: JsonOption = False,
) -> None:
    """Documents by state, chunks, vectors, entities, relations, tables and the last errors, per KB."""
    remote = forwarding_server()
    if remote is not None:
        with remote:
            found = remote.send("GET", "/v1/local/status", params={"kb": kb} if kb else None).json()
        reports = [found] if kb else found["knowledge_bases"]
    else:
        with configured_stores() as stores:
            names = [kb] if kb else [row.name for row in stores.sql.list_kbs()]
            if kb and not stores.sql.kb_exists(kb):
                raise fail(f"no knowledge base named {kb!r} (rag kb list shows them)")
            reports = [stores.status(name) for name in names]
    if as_json:
        print_json(reports[0] if kb else {"knowledge_bases": reports})
    else:
        print_status(reports)


def show_config(as_json: JsonOption = False) -> None:
    """The effective settings (environment, rag.toml, defaults), secrets masked."""
    shown = load_settings().masked()
    if as_json:
        print_json(shown)
    else:
        print_settings(shown)


def doctor(as_json: JsonOption = False) -> None:
    """Check each configured store and model, and say how to fix what is wrong."""
    from rag.doctor import run_checks

    checks = run_checks(load_settings())
    if as_json:
        print_json([{"check": c.name, "ok": c.ok, "warn": c.warn, "detail": c.detail} for c in checks])
    else:
        print_checks(checks)
    if not all(check.ok for check in checks):
        raise typer.Exit(2)
