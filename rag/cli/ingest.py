"""`rag ingest PATH…`: files and folders into a knowledge base, incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.render import ingest_progress, print_ingest_summary
from rag.cli.support import JsonOption, KbOption, configured_stores, fail, print_json


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest")],
    kb: KbOption = "default",
    include: Annotated[list[str], typer.Option("--include", "-i", help="Only files matching this glob")] = [],  # noqa: B006
    exclude: Annotated[list[str], typer.Option("--exclude", "-x", help="Skip files matching this glob")] = [],  # noqa: B006
    prune: Annotated[bool, typer.Option(help="Delete documents whose files are gone")] = False,
    as_json: JsonOption = False,
) -> None:
    """Load, chunk, embed and graph documents into a knowledge base (incremental, idempotent)."""
    from ingest.factory import open_ingest_pipeline
    from ingest.walk import PathNotFound

    with configured_stores() as stores, ingest_progress(hidden=as_json) as progress:
        pipeline = open_ingest_pipeline(stores, progress=progress)
        try:
            summary = pipeline.run(paths, kb, include, exclude, prune)
        except PathNotFound as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json(summary.as_dict())
    else:
        print_ingest_summary(summary)
    if summary.failed:
        raise typer.Exit(1)
