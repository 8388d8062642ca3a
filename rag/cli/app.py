"""The `rag` command: ingest, ask, chat, retrieve, eval, knowledge bases, documents, keys, models,
status, config, doctor, serve, worker, jobs and finetune.

Exit codes: 0 success; 1 some documents failed (each named with its reason); 2 usage or
configuration errors, including a store that cannot be reached or is held by another process.
While `rag serve` holds the data folder, `ingest`, `ask`, `retrieve`, `status`, `kb` and `docs`
are sent to it (`rag/cli/remote.py`) and exit as they would have here.

This module only assembles the command: each command lives in the module of its group, and
`rag --help` lists them in the order they are registered here.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from rag.cli.ask import ask, retrieve
from rag.cli.chat import chat
from rag.cli.eval import eval_command
from rag.cli.finetune import finetune_app
from rag.cli.ingest import ingest
from rag.cli.jobs import jobs_app, worker
from rag.cli.kb import docs_app, kb_app
from rag.cli.keys import keys_app
from rag.cli.models import models_app
from rag.cli.serve import serve
from rag.cli.status import doctor, show_config, status

app = typer.Typer(help="Answers from your own documents with your own model.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(docs_app, name="docs")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(finetune_app, name="finetune")
app.add_typer(jobs_app, name="jobs")
app.command("eval")(eval_command)
app.command()(ingest)
app.command()(status)
app.command()(retrieve)
app.command()(ask)
app.command()(chat)
app.command("config")(show_config)
app.command()(doctor)
app.command()(serve)
app.command()(worker)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def main() -> None:
    app()
