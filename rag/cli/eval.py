"""`rag eval DATASET`: retrieval (and answer) quality on a public or own evaluation set, or a
conversation set played turn by turn through the answer pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rag.cli.support import JsonOption, err, fail, load_settings, out, print_json

if TYPE_CHECKING:
    from rag.answer.pipeline import AnswerPipeline
    from rag.config import Settings
    from rag.evaluate.dataset import EvalSet
    from rag.stores.factory import Stores

R = TypeVar("R")


def eval_command(
    dataset: Annotated[Path, typer.Argument(help="A data set folder or JSON file")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto, conversations, project, beir, hotpotqa, musique, squad (CMRC 2018 too) or text2sql; "
            "auto reads a folder with conversations.jsonl as conversations",
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
    answer_tokens: Annotated[
        int, typer.Option(min=0, help="Longest answer, in tokens (0: RAG_ANSWER_MAX_TOKENS)")
    ] = 0,
    limit: Annotated[
        int, typer.Option(help="Evaluate the first N questions (conversations) only (0: all)")
    ] = 0,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write report.json and PNGs (conversations: turns.jsonl) here"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest the set's corpus (reused when unchanged), run each question through every retriever
    and the fusion, and report recall@1/5/10, complete@5, nDCG@10 and MRR per retriever; for a
    text-to-SQL set, also the execution accuracy of the SQL retriever's queries. A conversation
    set is answered turn by turn with its history: follow-up recall against the standalone
    forms', citations, grounded answers, abstention, rewrites and time to prompt-ready."""
    from rag.evaluate.conversations import CONVERSATIONS
    from rag.evaluate.dataset import DatasetError
    from rag.evaluate.formats import load
    from rag.evaluate.runner import EvalReport, evaluate, kb_name
    from rag.evaluate.text2sql import MAX_RESULT_ROWS

    settings = load_settings()
    if answer_tokens:
        settings = settings.model_copy(update={"answer_max_tokens": answer_tokens})
    if fmt == "conversations" or (fmt == "auto" and (dataset / CONVERSATIONS).is_file()):
        _conversations(dataset, settings, kb, retrievers, limit, out_dir, as_json)
        return
    try:
        eval_set = load(dataset, fmt)
    except DatasetError as exc:
        raise fail(str(exc)) from None
    kb = kb or kb_name(eval_set)
    eval_set = eval_set.limited(limit)
    retrievers = retrievers or ("vector,keyword,graph,sql" if eval_set.has_sql else "vector,keyword,graph")
    if eval_set.has_sql:  # compare whole results, not the first rows a prompt shows
        rows = max(settings.sql_max_rows, MAX_RESULT_ROWS + 1)
        settings = settings.model_copy(update={"sql_max_rows": rows})
    names = _names(retrievers)

    def run(pipeline: AnswerPipeline, passage_of: dict[str, str]) -> EvalReport:
        return _with_progress(
            "questions",
            len(eval_set.questions),
            lambda progress: evaluate(pipeline, eval_set, kb, passage_of, answers=answers, progress=progress),
        )

    report, learned, ingest_s = _run(settings, eval_set, kb, names, run)
    report.seconds["ingest"] = ingest_s
    report.settings.update(
        _settings(settings, names, learned),
        llm=settings.llm_model or "in-process default" if answers or "sql" in names else None,
        answer_max_tokens=settings.answer_max_tokens if answers else None,
        sql_max_rows=settings.sql_max_rows if "sql" in names else None,
    )
    from rag.evaluate.report import answers_table, report_table, sql_table, write_report

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


def _conversations(
    folder: Path,
    settings: Settings,
    kb: str,
    retrievers: str,
    limit: int,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """`rag eval` on a conversation set: every turn answered after the turns before it."""
    from rag.evaluate.conversation_runner import ConversationReport, play
    from rag.evaluate.conversations import read_conversation_set
    from rag.evaluate.dataset import DatasetError
    from rag.evaluate.runner import kb_name

    try:
        conversation_set = read_conversation_set(folder)
    except DatasetError as exc:
        raise fail(str(exc)) from None
    corpus = conversation_set.standalone_set()  # the passages, as `rag eval --format project` ingests them
    kb = kb or kb_name(corpus)
    conversation_set = conversation_set.limited(limit)
    names = _names(retrievers or "vector,keyword,graph")

    def run(pipeline: AnswerPipeline, passage_of: dict[str, str]) -> ConversationReport:
        return _with_progress(
            "turns",
            len(conversation_set.turns),
            lambda progress: play(pipeline, conversation_set, kb, passage_of, progress=progress),
        )

    report, learned, ingest_s = _run(settings, corpus, kb, names, run)
    report.seconds["ingest"] = ingest_s
    report.settings.update(
        _settings(settings, names, learned),
        llm=settings.llm_model or "in-process default",
        answer_max_tokens=settings.answer_max_tokens,
        abstain_below=settings.abstain_below,
        rewrite_deadline_s=settings.rewrite_deadline_s,
        history_tokens=settings.history_tokens,
        attribution_min=settings.attribution_min,
    )
    from rag.evaluate.report import conversation_tables, write_conversation_report

    written = write_conversation_report(report, out_dir) if out_dir else []
    if as_json:
        print_json(report.as_json())
        return
    for table in conversation_tables(report):
        out.print(table)
    for path in written:
        out.print(f"wrote {path}")


def _names(retrievers: str) -> list[str]:
    """The retrievers named (the fusion is always scored, so "fused" is no retriever to open)."""
    from rag.evaluate.runner import FUSED
    from rag.retrieve.factory import parse_names

    chosen = [name.strip() for name in retrievers.split(",") if name.strip() and name.strip() != FUSED]
    try:
        return parse_names(",".join(chosen))
    except ValueError as exc:
        raise fail(str(exc)) from None


def _run(
    settings: Settings,
    eval_set: EvalSet,
    kb: str,
    names: list[str],
    run: Callable[[AnswerPipeline, dict[str, str]], R],
) -> tuple[R, dict[str, dict[str, float]], float]:
    """Ingest the set's corpus into `kb` (a KB per group; each ingest learns its KB's fusion weights
    and abstention levels), open the pipeline over `names`, warm it up, and `run` it: its result,
    the learned weights per KB and the ingest's seconds."""
    from ingest.factory import open_ingest_pipeline
    from rag.answer.pipeline import open_pipeline
    from rag.common.chat import ModelError
    from rag.embed import EmbeddingModelError, configured_model
    from rag.evaluate.dataset import DatasetError
    from rag.evaluate.runner import group_kbs, write_corpus
    from rag.retrieve.rerank import RerankerError
    from rag.stores.errors import StoreUnavailable
    from rag.stores.factory import open_stores
    from rag.stores.lock import StoreLocked

    try:
        stores = open_stores(settings, configured_model(settings))
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
                if "vector" in names:
                    _require_vectors(stores, group_kb)
            pipeline = open_pipeline(stores, settings, names)
            try:
                pipeline.warm_up()
                return run(pipeline, passage_of), learned, ingest_s
            finally:
                pipeline.close()
        except (StoreUnavailable, ModelError, DatasetError, EmbeddingModelError, RerankerError) as exc:
            raise fail(str(exc)) from None


def _require_vectors(stores: Stores, kb: str) -> None:
    """Refuse to score the vector retriever over a collection that does not hold the whole KB: its
    figures would measure a missing index, not the retriever."""
    chunks, covered = stores.sql.vector_coverage(kb, stores.collection)
    if covered < chunks:
        raise fail(
            f"the vectors of {stores.embedding.name} hold {covered} of the {chunks} chunks of KB {kb}:"
            f" rag eval does not score the vector retriever over an incomplete index (rag ingest --kb {kb})"
        )


def _with_progress(label: str, total: int, work: Callable[[Callable[[int], None]], R]) -> R:
    """`work(progress)` under a progress bar on stderr, gone when it is done."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        return work(lambda done: bar.update(task, completed=done))


def _settings(settings: Settings, names: list[str], learned: dict[str, dict[str, float]]) -> dict[str, Any]:
    """What a report records of the settings, whatever the set."""
    return {
        "retrievers": names,
        "embed_model": settings.embed_model,
        "top_k": settings.top_k,
        "fusion": settings.fusion,
        "fusion_weights": settings.fusion_weights,
        "fusion_learned": learned if settings.fusion_learn else None,
        "reranker": {"none": None, "cross-encoder": settings.reranker_model, "llm": "llm"}[
            settings.resolved_reranker
        ],
    }
