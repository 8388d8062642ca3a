"""`rag finetune embeddings`: fine-tune the embedding model on a KB's training examples
(`rag.finetune.embeddings`), then say how the KB is embedded again with it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag.cli.render import counting_bars
from rag.cli.support import JsonOption, KbOption, err, fail, load_settings, out, print_json

if TYPE_CHECKING:
    from rag.finetune.embeddings import TuneReport


def embeddings(
    kb: KbOption,
    data: Annotated[Path, typer.Option("--data", help="Folder holding examples.jsonl (rag finetune data)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to save the fine-tuned model in")],
    base: Annotated[
        str,
        typer.Option(
            help="A sentence-transformers folder (or all-MiniLM-L6-v2) to start from "
            "[default: the KB's model when trainable, else the packaged all-MiniLM-L6-v2]"
        ),
    ] = "",
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs; stops early when dev nDCG@10 drops")] = 3,
    batch_size: Annotated[
        int, typer.Option(min=2, help="Pairs per step: each one a negative of the others")
    ] = 32,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 2e-5,
    hard_negatives: Annotated[
        int, typer.Option(min=0, help="Non-gold sources per question used as negatives (0: in-batch only)")
    ] = 0,
    max_steps: Annotated[
        int, typer.Option(min=0, help="Stop after N steps in all (0: the epochs decide)")
    ] = 0,
    seed: int = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier fine-tune in --out")] = False,
    as_json: JsonOption = False,
) -> None:
    """Train the embedding model on the train split's (question, gold chunk) pairs with in-batch
    negatives, keep the epoch best on the dev split, and save a sentence-transformers folder that
    RAG_EMBED_MODEL can name: the KB is then embedded again into a vector collection of its own."""
    from rag.finetune.embeddings import (
        EmbeddingTuneError,
        TuneOptions,
        check_out,
        choose_base,
        fine_tune,
        negative_ids,
        read_examples,
        training_set,
    )
    from rag.stores.errors import StoreUnavailable
    from rag.stores.sql import SqlStore

    settings = load_settings()
    try:
        check_out(out_dir, overwrite)
        examples = read_examples(data, kb)
        chosen = choose_base(settings.embed_model, base)
    except EmbeddingTuneError as exc:
        raise fail(str(exc)) from None
    err.print(escape(chosen.note), highlight=False)
    try:
        sql = SqlStore(settings.resolved_sql_url, timeout=settings.store_timeout_s)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        if not sql.kb_exists(kb):
            raise fail(f"no knowledge base named {kb!r}")
        wanted = negative_ids(examples) if hard_negatives else []
        texts = {chunk_id: chunk.text for chunk_id, (chunk, _) in sql.chunks_by_ids(wanted).items()}
    finally:
        sql.close()
    training = training_set(examples, texts, hard_negatives)
    options = TuneOptions(epochs, batch_size, learning_rate, hard_negatives, max_steps, seed)
    record = {"kb": kb, "data": str(data.resolve())}
    with counting_bars(as_json, transient=True) as bar:
        task = bar.add_task("training")
        report = fine_tune(
            chosen,
            training,
            out_dir,
            options,
            lambda done, total: bar.update(task, completed=done, total=total),
            record,
        )
    if as_json:
        print_json(asdict(report))
        return
    out.print(_report_table(report))
    collection = f"the vector collection of {out_dir.name} at revision {report.revision}"
    out.print(
        f"saved {escape(str(out_dir))}. Embed the KB again with it (into {collection}):\n"
        f"  RAG_EMBED_MODEL={escape(str(out_dir.resolve()))} rag ingest <its files> --kb {escape(kb)}",
        highlight=False,
    )


def _report_table(report: TuneReport) -> Table:
    """Dev figures of the base and of the epoch kept, and what the training did."""
    table = Table(
        title=f"{report.base} → fine-tuned ({report.pairs} pairs, {report.steps} steps, {report.device})"
    )
    table.add_column("model")
    names = list(report.dev_before)
    for name in names:
        table.add_column(f"dev {name}", justify="right")
    if names:
        table.add_row("base", *(f"{report.dev_before[n]:.3f}" for n in names))
        table.add_row(
            f"epoch {report.best_epoch} of {report.epochs_run}",
            *(f"{report.dev_after[n]:.3f}" for n in names),
        )
    else:
        table.add_row("no dev split: the last epoch is kept")
    table.caption = f"loss per epoch {report.losses}; {report.seconds:.0f} s"
    return table
