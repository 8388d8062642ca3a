"""`rag ingest PATH…`: files and folders into a knowledge base, incrementally."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from rag.cli.jobs import enqueue
from rag.cli.remote import Remote, forwarding_server
from rag.cli.render import ingest_progress, print_ingest_summary
from rag.cli.support import JsonOption, KbOption, configured_stores, err, fail, print_json


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest")],
    kb: KbOption = "default",
    include: Annotated[list[str], typer.Option("--include", "-i", help="Only files matching this glob")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option("--exclude", "-x", help="Skip files matching this glob")] = [],  # noqa: B006
    prune: Annotated[bool, typer.Option(help="Delete documents whose files are gone")] = False,
    queue: Annotated[
        bool, typer.Option("--queue", help="Only enqueue a job per file, for rag worker (PostgreSQL)")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load, chunk, embed and graph documents into a knowledge base (incremental, idempotent)."""
    if queue:
        if prune:
            raise fail("--prune works on a run that walks the folders: not with --queue")
        return enqueue(paths, kb, include, exclude, as_json)
    remote = forwarding_server()
    if remote is not None:
        with remote:
            summary = forwarded(remote, paths, kb, include, exclude, prune, quiet=as_json)
    else:
        summary = ingested(paths, kb, include, exclude, prune, quiet=as_json)
    if as_json:
        print_json(summary)
    else:
        print_ingest_summary(summary)
    if summary["failed"]:
        raise typer.Exit(1)


def ingested(
    paths: list[Path], kb: str, include: list[str], exclude: list[str], prune: bool, quiet: bool
) -> dict[str, Any]:
    """The run over the stores this process opens, with progress bars unless `quiet`."""
    from ingest.factory import open_ingest_pipeline
    from ingest.walk import PathNotFound

    with configured_stores() as stores, ingest_progress(hidden=quiet) as progress:
        pipeline = open_ingest_pipeline(stores, progress=progress)
        try:
            return pipeline.run(paths, kb, include, exclude, prune).as_dict()
        except PathNotFound as exc:
            raise fail(str(exc)) from None


def forwarded(
    remote: Remote,
    paths: list[Path],
    kb: str,
    include: list[str],
    exclude: list[str],
    prune: bool,
    quiet: bool,
) -> dict[str, Any]:
    """The run by the `rag serve` that holds the stores; the paths made absolute first, since the
    server resolves them from its own working folder."""
    body = {
        "paths": [str(path.expanduser().absolute()) for path in paths],
        "kb": kb,
        "include": include,
        "exclude": exclude,
        "prune": prune,
    }
    with err.status("ingesting in rag serve", spinner="dots") if not quiet else nullcontext():
        return dict(remote.send("POST", "/v1/local/ingest", body=body).json())
