"""`rag finetune data`: a RAFT-style training set made from a knowledge base (rag/finetune/data.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rag.cli.ask import configuration_errors, open_answer_pipeline
from rag.cli.render import counting_bars
from rag.cli.support import JsonOption, configured_stores, fail, out, print_json


def data(
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base the questions are about")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the training set (made if missing)")],
    limit: Annotated[int, typer.Option(min=1, help="Questions to write (or read from --questions)")] = 200,
    questions: Annotated[
        Path | None,
        typer.Option(help="JSONL of your own questions with `answer` or `answers`, instead of written ones"),
    ] = None,
    sources: Annotated[
        int, typer.Option(min=0, help="Numbered sources per prompt, gold + distractors (0: RAG_TOP_K)")
    ] = 0,
    no_gold_share: Annotated[
        float | None,
        typer.Option(min=0.0, max=0.99, help="Share without the gold [default: RAG_FINETUNE_NO_GOLD_SHARE]"),
    ] = None,
    dev_share: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of documents for dev")] = 0.1,
    test_share: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of documents for test")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the no-gold choice")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Write questions for sampled chunks with the configured model (or read yours), put each in
    the prompt `rag ask` sends, with its gold chunk among the retrievers' hard distractors (or
    without it, answered "the sources do not say"), split by document into train/dev/test, and
    save TRL and LLaMA-Factory files (docs/finetune.md)."""
    from rag.finetune.build import Progress as Phases
    from rag.finetune.build import make_data_set
    from rag.finetune.data import DataOptions
    from rag.finetune.formats import DataSetError
    from rag.finetune.questions import QuestionsError

    with configured_stores() as stores, configuration_errors():
        settings = stores.settings
        options = DataOptions(
            sources=sources or settings.top_k,
            no_gold_share=settings.finetune_no_gold_share if no_gold_share is None else no_gold_share,
            dev_share=dev_share,
            test_share=test_share,
            seed=seed,
        )
        pipeline = open_answer_pipeline(stores, kb, "vector,keyword,graph")
        bar = counting_bars(as_json)
        with bar:
            writing = bar.add_task("questions", total=limit if questions is None else 0)
            building = bar.add_task("examples", total=limit)
            phases = Phases(
                written=lambda n: bar.update(writing, completed=n),
                built=lambda n: bar.update(building, completed=n),
            )
            try:
                manifest = make_data_set(
                    stores,
                    pipeline,
                    pipeline.chat,
                    kb,
                    out_dir,
                    limit=limit,
                    questions=questions,
                    options=options,
                    concurrency=settings.extract_concurrency if settings.llm_url else 1,
                    progress=phases,
                )
            except (QuestionsError, DataSetError, OSError) as exc:
                raise fail(str(exc)) from None
            finally:
                pipeline.close()
    if as_json:
        print_json(manifest)
        return
    splits = manifest["splits"]
    unanswerable = manifest["unanswerable"]
    out.print(
        f"{manifest['examples']} examples in {out_dir}: "
        + ", ".join(f"{split} {n} ({unanswerable[split]} without the gold)" for split, n in splits.items())
    )
    for label, reasons in (("questions dropped", "questions_rejected"), ("skipped", "seeds_skipped")):
        if manifest[reasons]:
            out.print(f"{label}: " + ", ".join(f"{why} {n}" for why, n in manifest[reasons].items()))
    if manifest["examples"] == 0:
        raise fail("no example could be made: see the reasons above", code=1)
