"""`rag eval DATASET`: retrieval (and answer) quality on a public or own evaluation set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rag.cli.support import JsonOption, err, fail, load_settings, out, print_json


def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A data set folder or JSON file")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="auto, project, beir, hotpotqa, musique, squad (CMRC 2018 too) or text2sql"
        ),
    ] = "auto",
    kb: Annotated[str, typer.Option(help="KB to ingest into (default: eval-<set>-<content hash>)")] = "",
    retrievers: Annotated[
        str,
        typer.Option(
            help="Retrievers to compare, alone and fused (sql asks the model per question) "
            "[default: vector,keyword,graph,fused; and sql for a text-to-SQL set]"
        ),
    ] = "",
    answers: Annotated[
        bool, typer.Option("--answers", help="Also answer every question: EM, F1, citations")
    ] = False,
    limit: Annotated[int, typer.Option(help="Evaluate the first N questions only (0: all)")] = 0,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write report.json and a PNG per metric here")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest the set's corpus (reused when unchanged), run each question through every retriever
    and the fusion, and report recall@1/5/10, complete@5, nDCG@10 and MRR per retriever; for a
    text-to-SQL set, also the execution accuracy of the SQL retriever's queries."""
    from ingest.factory import open_ingest_pipeline
    from rag.answer.pipeline import open_pipeline
    from rag.common.chat import ModelError
    from rag.embed import EmbeddingModelError, model_info
    from rag.evaluate.dataset import DatasetError
    from rag.evaluate.formats import load
    from rag.evaluate.report import answers_table, report_table, sql_table, write_report
    from rag.evaluate.runner import FUSED, evaluate, group_kbs, kb_name, write_corpus
    from rag.evaluate.text2sql import MAX_RESULT_ROWS
    from rag.retrieve.factory import parse_names
    from rag.retrieve.rerank import RerankerError
    from rag.stores.errors import StoreUnavailable
    from rag.stores.factory import open_stores
    from rag.stores.lock import StoreLocked

    settings = load_settings()
    try:
        eval_set = load(dataset, fmt)
    except DatasetError as exc:
        raise fail(str(exc)) from None
    kb = kb or kb_name(eval_set)
    eval_set = eval_set.limited(limit)
    retrievers = retrievers or ("vector,keyword,graph,sql" if eval_set.has_sql else "vector,keyword,graph")
    chosen = [name.strip() for name in retrievers.split(",") if name.strip() and name.strip() != FUSED]
    if eval_set.has_sql:  # compare whole results, not the first rows a prompt shows
        rows = max(settings.sql_max_rows, MAX_RESULT_ROWS + 1)
        settings = settings.model_copy(update={"sql_max_rows": rows})
    try:
        names = parse_names(",".join(chosen))
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        stores = open_stores(settings, model_info(settings.embed_model))
    except (StoreUnavailable, StoreLocked, EmbeddingModelError) as exc:
        raise fail(str(exc)) from None
    with stores:
        try:
            folders, passage_of = write_corpus(eval_set, settings.data_dir)
            ingest = open_ingest_pipeline(stores)
            ingest_s = 0.0
            learned: dict[str, dict[str, float]] = {}
            for group, group_kb in group_kbs(eval_set, kb).items():
                summary = ingest.run([folders[group]], group_kb)
                ingest_s += summary.seconds
                if (stored := stores.sql.learned_weights(group_kb)) is not None:
                    learned[group_kb] = stored.weights
                if summary.failed:
                    raise fail(f"{summary.failed} passages failed to ingest: {summary.failures[0]}")
            pipeline = open_pipeline(stores, settings, names)
            pipeline.warm_up()
            with Progress(
                TextColumn("questions"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("questions", total=len(eval_set.questions))
                report = evaluate(
                    pipeline,
                    eval_set,
                    kb,
                    passage_of,
                    answers=answers,
                    progress=lambda done: bar.update(task, completed=done),
                )
        except (StoreUnavailable, ModelError, DatasetError, EmbeddingModelError, RerankerError) as exc:
            raise fail(str(exc)) from None
    report.seconds["ingest"] = ingest_s
    report.settings.update(
        embed_model=settings.embed_model,
        top_k=settings.top_k,
        fusion=settings.fusion,
        fusion_weights=settings.fusion_weights,
        fusion_learned=learned if settings.fusion_learn else None,
        reranker={"none": None, "cross-encoder": settings.reranker_model, "llm": "llm"}[
            settings.resolved_reranker
        ],
        llm=settings.llm_model or "in-process default" if answers or "sql" in names else None,
        sql_max_rows=settings.sql_max_rows if "sql" in names else None,
    )
    written = write_report(report, out_dir) if out_dir else []
    if as_json:
        print_json(report.as_json())
        return
    out.print(report_table(report))
    for table in (answers_table(report), sql_table(report)):
        if table is not None:
            out.print(table)
    for path in written:
        out.print(f"wrote {path}")
