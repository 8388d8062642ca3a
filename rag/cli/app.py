"""The `rag` command: ingest, ask, retrieve, eval, knowledge bases, documents, keys, models, status,
config, doctor and serve.

Exit codes: 0 success; 1 some documents failed (each named with its reason); 2 usage or
configuration errors, including a store that cannot be reached or is held by another process.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.cli.eval import eval_command
from rag.cli.models import models_app
from rag.cli.support import JsonOption, err, out
from rag.cli.support import fail as _fail
from rag.cli.support import load_settings as _settings
from rag.cli.support import print_json as _print_json
from rag.stores.errors import StoreUnavailable
from rag.stores.factory import Stores, open_stores
from rag.stores.lock import StoreLocked

if TYPE_CHECKING:
    from rag.answer.pipeline import AnswerPipeline

app = typer.Typer(help="Answers from your own documents with your own model.", no_args_is_help=True)
kb_app = typer.Typer(help="Create, list and delete knowledge bases.", no_args_is_help=True)
docs_app = typer.Typer(help="List and delete documents.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
keys_app = typer.Typer(help="Create, list and revoke API keys of the HTTP service.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.command("eval")(eval_command)

KbOption = Annotated[str, typer.Option("--kb", help="Knowledge base name")]
T = TypeVar("T")
#: a table's columns: header → the cell of a row
Columns = dict[str, Callable[[dict[str, Any]], object]]


@contextmanager
def _stores() -> Iterator[Stores]:
    """Open the configured stores, turning every way that can fail into one clear line."""
    from rag.embed import EmbeddingModelError, model_info
    from rag.generate.base import ModelError

    settings = _settings()
    try:
        stores = open_stores(settings, model_info(settings.embed_model))
    except (StoreUnavailable, StoreLocked, EmbeddingModelError) as exc:
        raise _fail(str(exc)) from None
    try:
        yield stores
    except (StoreUnavailable, ModelError, EmbeddingModelError) as exc:
        # documents already stored stay resumable: the next run picks them up
        raise _fail(str(exc)) from None
    finally:
        stores.close()


class _RichProgress:
    """Two bars, files then chunks, drawn on stderr so `--json` output stays clean."""

    def __init__(self, progress: Progress) -> None:
        self._bar = progress
        self._files = progress.add_task("files", total=None)
        self._chunks = progress.add_task("chunks", total=None, visible=False)

    def files(self, total: int) -> None:
        self._bar.update(self._files, total=total)

    def file_done(self, source: str) -> None:
        self._bar.update(self._files, advance=1, description=f"files [dim]{Path(source).name[:40]}[/]")

    def chunks(self, total: int) -> None:
        self._bar.update(self._chunks, total=total, visible=True)

    def chunks_done(self, count: int) -> None:
        self._bar.update(self._chunks, advance=count)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


def _summary_table(data: dict[str, Any]) -> Table:
    """Files by outcome, then what was written: two short rows that fit an 80-column terminal."""
    table = Table(title=f"ingest into {data['kb']!r} in {data['seconds']:.1f} s")
    files = ("new", "changed", "unchanged", "resumed", "deleted", "failed")
    stored = ("chunks", "vectors", "entities", "relations", "tables", "")
    table.add_column("files")
    for name in files:
        table.add_column(name, justify="right")
    table.add_row("", *(str(data[name]) for name in files))
    table.add_section()
    table.add_row("[bold]stored[/]", *(f"{name} {data[name]}" if name else "" for name in stored))
    return table


@app.command()
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

    with _stores() as stores:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True, disable=as_json) as bar:
            pipeline = open_ingest_pipeline(stores, progress=_RichProgress(bar))
            try:
                summary = pipeline.run(paths, kb, include, exclude, prune)
            except PathNotFound as exc:
                raise _fail(str(exc)) from None
    if as_json:
        _print_json(summary.as_dict())
    else:
        out.print(_summary_table(summary.as_dict()))
        for failure in summary.failures:
            where = f"{failure.source} ({failure.stage})"
            err.print(f"[red]failed[/] {escape(where)}: {escape(failure.error)}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def status(
    kb: Annotated[str | None, typer.Option("--kb", help="One knowledge base")] = None,
    as_json: JsonOption = False,
) -> None:
    """Documents by state, chunks, vectors, entities, relations, tables and the last errors, per KB."""
    with _stores() as stores:
        names = [kb] if kb else [row.name for row in stores.sql.list_kbs()]
        if kb and not stores.sql.kb_exists(kb):
            raise _fail(f"no knowledge base named {kb!r} (rag kb list shows them)")
        reports = [stores.status(name) for name in names]
    if as_json:
        _print_json(reports[0] if kb else {"knowledge_bases": reports})
        return
    if not reports:
        out.print("no knowledge bases yet: [bold]rag ingest PATH --kb NAME[/] creates one")
        return
    table = Table(title="status")
    for column in ("kb", "documents", "chunks", "vectors", "entities", "relations", "tables"):
        table.add_column(column, justify="left" if column in ("kb", "documents") else "right")
    for report in reports:
        states = ", ".join(f"{k} {v}" for k, v in sorted(report["documents"].items())) or "none"
        table.add_row(
            escape(report["kb"]),
            states,
            *(str(report[k]) for k in ("chunks", "vectors", "entities", "relations", "tables")),
        )
    out.print(table)
    for report in reports:
        for failure in report["failed"]:
            where = f"{report['kb']}: {failure['source']} ({failure['stage']})"
            err.print(f"[red]failed[/] {escape(where)}: {escape(failure['error'] or '')}", highlight=False)


RetrieversOption = Annotated[
    str, typer.Option("--retrievers", help="Comma-separated: vector,keyword,graph,sql")
]
TopKOption = Annotated[int | None, typer.Option("--top-k", help="Fused hits that go into the prompt")]


@contextmanager
def _pipeline(kb: str, retrievers: str) -> Iterator[AnswerPipeline]:
    """The answer pipeline over the configured stores, warmed up, for an existing KB."""
    from rag.answer.pipeline import open_pipeline
    from rag.retrieve.rerank import RerankerError

    with _stores() as stores:
        if not stores.sql.kb_exists(kb):
            raise _fail(f"no knowledge base named {kb!r} (rag kb list shows them)")
        try:
            pipeline = open_pipeline(stores, stores.settings, retrievers.split(","))
            pipeline.warm_up()
            yield pipeline
        except (ValueError, RerankerError) as exc:
            raise _fail(str(exc)) from None


@app.command()
def retrieve(
    question: Annotated[str, typer.Argument(help="The question to find context for")],
    kb: KbOption = "default",
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph",
    as_json: JsonOption = False,
) -> None:
    """The fused hits for a question, with each one's retrievers, ranks and scores (no answer)."""
    from rag.answer.responses import retrieval_json

    with _pipeline(kb, retrievers) as pipeline:
        found = retrieval_json(question, kb, pipeline.retrieve(question, kb, top_k=top_k))
    if as_json:
        _print_json(found)
        return
    table = Table(title=f"{question!r} in {kb!r}")
    for column in ("#", "score", "found by", "source", "text"):
        table.add_column(column, overflow="fold")
    for hit in found["hits"]:
        found_by = ", ".join(f"{name} #{r['rank']}" for name, r in hit["retrievers"].items())
        text = hit["text"].replace("\n", " ")
        table.add_row(
            str(hit["rank"]),
            f"{hit['score']:.4f}",
            found_by,
            escape(Path(hit["source"]).name),
            escape(text[:160]),
        )
    out.print(table)
    for fact in found["facts"]:
        out.print(f"[dim]fact[/] {escape(fact['fact'])}", highlight=False)
    for result in found["tables"]:
        out.print(f"[dim]sql[/] {escape(result['sql'])} → {len(result['rows'])} rows", highlight=False)
    _print_failures(found["sources_failed"])


def _print_failures(failed: list[dict[str, str]]) -> None:
    for failure in failed:
        err.print(
            f"[yellow]{escape(failure['source'])} failed[/]: {escape(failure['reason'])}", highlight=False
        )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer")],
    kb: KbOption = "default",
    top_k: TopKOption = None,
    retrievers: RetrieversOption = "vector,keyword,graph,sql",
    stream: Annotated[bool, typer.Option("--stream", help="Print the answer as it is written")] = False,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from a knowledge base with the configured model, citing its sources.

    --json prints {"answer", "citations", "sources_failed", "timings"}; with --stream too, one
    JSON line per piece of text ({"token": …}) and then that object on the last line.
    """
    from rag.answer.responses import answer_json
    from rag.models import Answer

    answer: Answer | None = None
    with _pipeline(kb, retrievers) as pipeline:
        for piece in pipeline.stream(question, kb, top_k=top_k):
            if isinstance(piece, Answer):
                answer = piece
            elif stream and as_json:
                print(json.dumps({"token": piece}, ensure_ascii=False), flush=True)
            elif stream:
                out.file.write(piece)
                out.file.flush()
    assert answer is not None  # the pipeline always ends with the Answer
    shown = answer_json(answer)
    if as_json:
        if stream:
            print(json.dumps(shown, ensure_ascii=False, default=str), flush=True)
        else:
            _print_json(shown)
        return
    out.print("" if stream else escape(answer.answer), highlight=False)
    out.print()
    for citation in shown["citations"]:
        mark = "" if citation["cited"] else " [dim](given, not cited)[/]"
        where = citation.get("sql") or Path(citation["source"]).name
        found_by = ", ".join(citation["retrievers"])
        out.print(f"[bold][{citation['n']}][/] {escape(where)} [dim]({found_by})[/]{mark}", highlight=False)
    _print_failures(shown["sources_failed"])


@app.command("config")
def show_config(as_json: JsonOption = False) -> None:
    """The effective settings (environment, rag.toml, defaults), secrets masked."""
    shown = _settings().masked()
    if as_json:
        _print_json(shown)
        return
    table = Table(title="settings (RAG_<NAME>)")
    table.add_column("name")
    table.add_column("value")
    for name, value in shown.items():
        table.add_row(name, escape(str(value)))
    out.print(table)


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check each configured store and model, and say how to fix what is wrong."""
    from rag.doctor import run_checks

    checks = run_checks(_settings())
    if as_json:
        _print_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
        raise typer.Exit(0 if all(check.ok for check in checks) else 2)
    table = Table(title="doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        table.add_row(check.name, mark, escape(check.detail))
    out.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(2)


def _show_rows(
    rows: list[dict[str, Any]],
    as_json: bool,
    title: str,
    columns: Columns,
) -> None:
    """The rows as JSON, or as a table with one column per entry of `columns` (header → cell)."""
    if as_json:
        _print_json(rows)
        return
    table = Table(title=title)
    for header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(escape(str(cell(row))) for cell in columns.values()))
    out.print(table)


def _with_stores(action: Callable[[Stores], T]) -> T:
    with _stores() as stores:
        return action(stores)


@kb_app.command("create")
def kb_create(name: str, description: Annotated[str, typer.Option(help="What the KB holds")] = "") -> None:
    """Create a knowledge base."""
    created = _with_stores(lambda s: s.sql.create_kb(name, description))
    out.print(f"created {name!r}" if created else f"{name!r} already exists")


@kb_app.command("list")
def kb_list(as_json: JsonOption = False) -> None:
    """List knowledge bases with their document counts."""
    rows = [asdict(row) for row in _with_stores(lambda s: s.sql.list_kbs())]
    columns: Columns = {
        "name": lambda row: row["name"],
        "documents": lambda row: row["documents"],
        "description": lambda row: row["description"],
        "created_at": lambda row: str(row["created_at"])[:19],
    }
    _show_rows(rows, as_json, "knowledge bases", columns)


@kb_app.command("delete")
def kb_delete(
    name: str, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False
) -> None:
    """Delete a knowledge base from every store."""

    if not yes:
        typer.confirm(f"delete knowledge base {name!r} and everything in it?", abort=True)
    with _stores() as stores:
        if not stores.sql.kb_exists(name):
            raise _fail(f"no knowledge base named {name!r}")
        stores.delete_kb(name)
    out.print(f"deleted {name!r}")


@docs_app.command("delete")
def docs_delete(
    ref: Annotated[str, typer.Argument(help="Document id or source path")],
    kb: Annotated[str | None, typer.Option("--kb", help="Only in this knowledge base")] = None,
) -> None:
    """Delete one document (by id or source path) from every store."""

    with _stores() as stores:
        entries = stores.sql.find_documents(ref, kb)
        if not entries and Path(ref).exists():
            entries = stores.sql.find_documents(str(Path(ref).resolve()), kb)
        if not entries:
            raise _fail(f"no document with id or source {ref!r}")
        count = stores.delete_documents(entries)
    out.print(f"deleted {count} document(s)")


@docs_app.command("list")
def docs_list(kb: KbOption = "default", as_json: JsonOption = False) -> None:
    """List the documents of a knowledge base with their state."""
    entries = _with_stores(lambda s: s.sql.documents_in_kb(kb))
    rows = [{"id": e.id, "source": e.source, "status": e.status, "chunks": e.chunk_count} for e in entries]
    columns: Columns = {
        name: lambda row, name=name: row[name] for name in ("id", "status", "chunks", "source")
    }
    _show_rows(rows, as_json, f"documents in {kb!r}", columns)


@keys_app.command("create")
def keys_create(
    kbs: Annotated[list[str], typer.Option("--kb", help="A KB the key may use (repeat for more)")],
    write: Annotated[bool, typer.Option("--write", help="Also upload and delete documents")] = False,
) -> None:
    """Print a new key once, alone on the last line; only its hash is stored."""
    from rag.stores.sql.keys import ApiKeys

    with _stores() as stores:
        missing = [kb for kb in kbs if not stores.sql.kb_exists(kb)]
        if missing:
            raise _fail(f"no knowledge base named {', '.join(map(repr, missing))} (rag kb create NAME)")
        key_id, secret = ApiKeys(stores.sql.engine).create(kbs, can_write=write)
    access = "read and write" if write else "read"
    err.print(
        f"key {key_id}: {access} {', '.join(kbs)}; store it now, it is not shown again", highlight=False
    )
    print(secret)


@keys_app.command("list")
def keys_list(as_json: JsonOption = False) -> None:
    """Every key's id, KBs and access (never the key itself)."""
    from rag.stores.sql.keys import ApiKeys

    rows = _with_stores(lambda stores: ApiKeys(stores.sql.engine).list())
    columns: Columns = {
        "id": lambda row: row["id"],
        "knowledge bases": lambda row: ", ".join(row["kbs"]),
        "access": lambda row: "read, write" if row["can_write"] else "read",
        "created": lambda row: str(row["created_at"])[:19],
    }
    _show_rows(rows, as_json, "API keys", columns)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (rag keys list)")]) -> None:
    """Revoke a key: requests with it are refused at once."""
    from rag.stores.sql.keys import ApiKeys

    if not _with_stores(lambda stores: ApiKeys(stores.sql.engine).revoke(key_id)):
        raise _fail(f"no key with id {key_id!r}")
    out.print(f"revoked {escape(key_id)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the HTTP API (docs at /docs). With no key at all, it listens on 127.0.0.1 only."""
    import uvicorn

    from api.app import create_app
    from rag.stores.sql.keys import ApiKeys

    settings = _settings()
    keyed = bool(settings.admin_key.get_secret_value()) or _with_stores(
        lambda stores: ApiKeys(stores.sql.engine).any()
    )
    if not keyed and host != "127.0.0.1":
        err.print(
            f"[yellow]no API key exists[/], so the service is open to anyone who reaches it: "
            f"listening on 127.0.0.1 instead of {escape(host)} (rag keys create, or RAG_ADMIN_KEY)",
            highlight=False,
        )
        host = "127.0.0.1"
    elif not keyed:
        err.print("[yellow]no API key exists[/]: open to local clients only (127.0.0.1)", highlight=False)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def main() -> None:
    app()
