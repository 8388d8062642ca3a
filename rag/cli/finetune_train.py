"""`rag finetune train`: a LoRA adapter trained on a `rag finetune data` folder (rag/finetune/train.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rag.cli.render import counting_bars
from rag.cli.support import JsonOption, err, fail, load_settings, out, print_json


def train(
    data_dir: Annotated[Path, typer.Argument(help="Folder written by `rag finetune data`")],
    out_dir: Annotated[Path, typer.Option("--out", help="Adapter folder to write")],
    base: Annotated[
        str,
        typer.Option(
            help="Base: a .gguf file or Transformers folder [default: RAG_LLM_MODEL, else the packaged model]"
        ),
    ] = "",
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (-1: --epochs decide)")] = -1,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the training split")] = 2.0,
    rank: Annotated[int, typer.Option(min=1, help="LoRA rank")] = 16,
    alpha: Annotated[int, typer.Option(min=1, help="LoRA alpha (scale = alpha / rank)")] = 32,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="LoRA dropout")] = 0.05,
    target_modules: Annotated[
        str,
        typer.Option(
            help="Comma-separated module names to adapt (default: every linear layer but the output)"
        ),
    ] = "",
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Peak learning rate")] = 2e-4,
    max_length: Annotated[
        int, typer.Option(min=64, help="Longest example in tokens; longer ones are skipped")
    ] = 1024,
    batch_size: Annotated[int, typer.Option(min=1, help="Examples per step")] = 4,
    gradient_accumulation: Annotated[int, typer.Option(min=1, help="Batches per optimiser step")] = 1,
    eval_every: Annotated[int, typer.Option(min=0, help="Dev loss every N steps (0: ten times a run)")] = 0,
    patience: Annotated[int, typer.Option(min=1, help="Dev evaluations without gain before stopping")] = 3,
    name: Annotated[str, typer.Option(help="Name the adapter is served under (default: the folder's)")] = "",
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the order")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train a LoRA adapter with the loss on the answers only, stopping early when the dev loss no
    longer falls, and save it as a PEFT folder with the base model's fingerprint; then
    `rag finetune deploy` serves it and `rag finetune eval` measures it."""
    from rag.common.chat import ModelUnavailable
    from rag.finetune.formats import DataSetError
    from rag.finetune.train import TrainingError, TrainOptions, train_adapter
    from rag.generate.adapter_card import AdapterError

    settings = load_settings()
    options = TrainOptions(
        rank=rank,
        alpha=alpha,
        dropout=dropout,
        target_modules=tuple(m.strip() for m in target_modules.split(",") if m.strip()),
        learning_rate=learning_rate,
        epochs=epochs,
        max_steps=max_steps,
        max_length=max_length,
        batch_size=batch_size,
        gradient_accumulation=gradient_accumulation,
        eval_every=eval_every,
        patience=patience,
        seed=seed,
        name=name,
    )
    bar = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
    )
    with bar:
        task = bar.add_task("train", total=None, loss="…")

        def report(step: int, steps: int, loss: float | None) -> None:
            bar.update(task, completed=step, total=steps, loss=f"{loss:.3f}" if loss is not None else "…")

        try:
            card = train_adapter(
                data_dir,
                base or (settings.llm_model if not settings.llm_url else ""),
                out_dir,
                options,
                cache_dir=settings.data_dir / "models",
                progress=report,
            )
        except (DataSetError, TrainingError, AdapterError, ModelUnavailable, OSError) as exc:
            raise fail(str(exc)) from None
    if as_json:
        print_json({"adapter": str(out_dir), "name": card.name, "base": card.base.name, **card.training})
        return
    training = card.training
    curve = training["losses"]
    first, last = (curve[0][1], curve[-1][1]) if curve else (None, None)
    out.print(
        f"adapter {card.name!r} in {out_dir}: {training['steps']} steps in {training['seconds']} s on "
        f"{training['device']}, training loss {first} → {last}"
        + (
            f", best dev loss {training['best_dev_loss']:.4f}"
            if training["best_dev_loss"] is not None
            else ""
        )
    )
    skipped = {split: n for split, n in training["too_long"].items() if n}
    if skipped:
        out.print(f"skipped as longer than --max-length: {skipped}")


def evaluate(
    data_dir: Annotated[Path, typer.Argument(help="Folder written by `rag finetune data`")],
    adapter: Annotated[
        Path | None, typer.Option(help="Adapter folder, applied in-process to --base (no model server)")
    ] = None,
    base: Annotated[str, typer.Option(help="In-process base [default: the adapter's own base]")] = "",
    adapter_model: Annotated[
        str, typer.Option(help="On RAG_LLM_URL's server: the adapter's served name (vLLM --lora-modules)")
    ] = "",
    base_model: Annotated[str, typer.Option(help="On RAG_LLM_URL's server: the base's served name")] = "",
    general: Annotated[
        Path | None, typer.Option(help="Another `rag finetune data` folder the adapter was not trained on")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="First N test questions only (0: all)")] = 0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Longest answer, in tokens")] = 64,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the figures and replies as JSON")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Answer the test split's stored prompts (the same retrieved sources for both) with the base
    and with the adapter at temperature 0, and report exact match, F1, gold citations and
    abstention for each, with the paired difference and its 95 % bootstrap interval; a --general
    set shows forgetting."""
    import json

    from rich.table import Table

    from rag.common.chat import ModelError
    from rag.finetune.compare import compare
    from rag.finetune.formats import DataSetError, read_examples
    from rag.generate.adapter_card import AdapterCard, AdapterError
    from rag.generate.factory import open_chat_model

    settings = load_settings()
    try:
        if adapter_model:
            if not settings.llm_url:
                raise fail("--adapter-model names a served adapter: set RAG_LLM_URL to its server")
            names = (base_model, adapter_model)
            models = tuple(
                open_chat_model(settings.model_copy(update={"llm_model": n, "llm_adapter": ""}))
                for n in names
            )
        elif adapter is not None:
            source = base or AdapterCard.read(adapter).base.path
            local = {"llm_url": "", "llm_model": source}
            models = tuple(
                open_chat_model(settings.model_copy(update={**local, "llm_adapter": a}))
                for a in ("", str(adapter))
            )
        else:
            raise fail("name the adapter: --adapter DIR (in-process) or --adapter-model NAME (on a server)")
        sets = {"test": list(read_examples(data_dir, "test"))[: limit or None]}
        if general is not None:
            sets["general"] = list(read_examples(general))[: limit or None]
    except (DataSetError, AdapterError, ModelError) as exc:
        raise fail(str(exc)) from None
    if not sets["test"]:
        raise fail(f"{data_dir} has no test example: make the set with a larger --limit or --test-share")
    results = []
    with counting_bars(as_json) as bar:
        for name, examples in sets.items():
            task = bar.add_task(name, total=len(examples))
            try:
                results.append(
                    compare(
                        name,
                        examples,
                        *models,
                        max_tokens=max_tokens,
                        progress=lambda n, t=task: bar.update(t, completed=n),
                    )
                )
            except ModelError as exc:
                raise fail(str(exc)) from None
    report = {"base": models[0].name, "adapter": models[1].name, "sets": [r.as_json() for r in results]}
    if out_file is not None:
        out_file.write_text(
            json.dumps(
                {**report, "replies": {r.name: r.replies for r in results}}, indent=1, ensure_ascii=False
            )
        )
    if as_json:
        print_json(report)
        return
    for result in results:
        table = Table(title=f"{result.name}: base {models[0].name} against the adapter")
        for column in ("metric", "questions", "base", "adapter", "difference", "95 % interval"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for row in result.rows:
            low, high = row.interval
            table.add_row(
                row.metric,
                str(row.questions),
                f"{row.base:.3f}",
                f"{row.adapter:.3f}",
                f"{row.difference:+.3f}",
                f"[{low:+.3f}, {high:+.3f}]",
            )
        out.print(table)
