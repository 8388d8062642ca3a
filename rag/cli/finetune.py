"""`rag finetune …`: training data from a KB, LoRA training, the paired evaluation, serving the
adapter. Each command lives in its own module; this one registers them in the order of the loop."""

from __future__ import annotations

import typer

from rag.cli.finetune_data import data
from rag.cli.finetune_deploy import deploy, merge
from rag.cli.finetune_embeddings import embeddings
from rag.cli.finetune_train import evaluate, train

finetune_app = typer.Typer(
    help="Fine-tune the generator (LoRA) or the embedding model on a knowledge base, and serve it.",
    no_args_is_help=True,
)
finetune_app.command()(data)
finetune_app.command()(train)
finetune_app.command("eval")(evaluate)
finetune_app.command()(deploy)
finetune_app.command()(merge)
finetune_app.command()(embeddings)
