"""`rag finetune …`: training data from a KB, LoRA training, the paired evaluation, deployment."""

from __future__ import annotations

import typer

from rag.cli.finetune_data import data
from rag.cli.finetune_train import evaluate, train

finetune_app = typer.Typer(
    help="Fine-tune the generator (LoRA) or the embedding model on a knowledge base.", no_args_is_help=True
)
finetune_app.command()(data)
finetune_app.command()(train)
finetune_app.command("eval")(evaluate)
