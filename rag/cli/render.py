"""How the `rag` commands show a result on a terminal: Rich tables, progress bars and lines.

The commands do the work and hand their results here, so what a result looks like is decided in
one place, apart from how it is obtained. Tables go to stdout; failures and progress to stderr, so
that piping stdout keeps only the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rag.cli.support import err, out, print_json

if TYPE_CHECKING:
    from rag.doctor import Check

#: a table's columns: header → the cell of a row
Columns = dict[str, Callable[[dict[str, Any]], object]]


class _IngestBars:
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


def counting_bars(hidden: bool, *, transient: bool = False) -> Progress:
    """Bars that count items of named tasks on stderr, with the time taken; none when `hidden`
    (JSON output): one look for every long command."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=err, transient=transient, disable=hidden)


@contextmanager
def ingest_progress(hidden: bool) -> Iterator[_IngestBars]:
    """The ingest pipeline's progress as bars that vanish when done; none at all when `hidden`."""
    with counting_bars(hidden, transient=True) as bar:
        yield _IngestBars(bar)


def _summary_table(data: dict[str, Any]) -> Table:
    """Files by outcome, then what was written, then how an LLM extractor answered (chunks asked,
    from the cache, whose JSON failed after the retry, refused): short rows that fit 80 columns."""
    table = Table(title=f"ingest into {data['kb']!r} in {data['seconds']:.1f} s")
    files = ("new", "changed", "unchanged", "resumed", "deleted", "failed")
    stored = ("chunks", "vectors", "entities", "relations", "tables", "")
    table.add_column("files")
    for name in files:
        table.add_column(name, justify="right")
    table.add_row("", *(str(data[name]) for name in files))
    table.add_section()
    table.add_row("[bold]stored[/]", *(f"{name} {data[name]}" if name else "" for name in stored))
    llm = data["extraction"]
    if llm["asked"] or llm["cached"]:  # an LLM extractor ran
        table.add_section()
        table.add_row(
            "[bold]llm[/]",
            f"asked {llm['asked']}",
            f"cached {llm['cached']}",
            f"bad json {llm['failed_json']}",
            f"{llm['failed_share']:.0%} bad",
            f"refused {llm['refused']}",
            "",
        )
    return table


def print_ingest_summary(data: dict[str, Any]) -> None:
    """The summary table, then each failed file with the stage it failed in and why: from
    `IngestSummary.as_dict()`, the shape both a local run and `rag serve` give."""
    out.print(_summary_table(data))
    if data["reembedded"]:
        out.print(
            f"re-embedded {data['reembedded']} documents whose vectors the configured embedding model"
            " did not have (ingested under another RAG_EMBED_MODEL, or the vector store was emptied)"
        )
    for failure in data["failures"]:
        where = f"{failure['source']} ({failure['stage']})"
        err.print(f"[red]failed[/] {escape(where)}: {escape(failure['error'])}", highlight=False)


#: the columns of `rag status` that count something
_COUNTS = ("chunks", "vectors", "entities", "relations", "tables")


def print_status(reports: list[dict[str, Any]]) -> None:
    """One row per knowledge base, then each one's failed documents; a hint when there is none."""
    if not reports:
        out.print("no knowledge bases yet: [bold]rag ingest PATH --kb NAME[/] creates one")
        return
    table = Table(title="status")
    for column in ("kb", "documents", "chunks", "vectors", "entities", "relations", "tables", "fusion"):
        table.add_column(column, justify="right" if column in _COUNTS else "left")
    for report in reports:
        states = ", ".join(f"{k} {v}" for k, v in sorted(report["documents"].items())) or "none"
        learned = report.get("fusion_weights") or {}
        fusion = " ".join(f"{name} {weight:g}" for name, weight in sorted(learned.items())) or "equal"
        table.add_row(
            escape(report["kb"]),
            states,
            *(str(report[k]) for k in _COUNTS),
            fusion,
        )
    out.print(table)
    for report in reports:
        _print_other_models(report)
        for failure in report["failed"]:
            where = f"{report['kb']}: {failure['source']} ({failure['stage']})"
            err.print(f"[red]failed[/] {escape(where)}: {escape(failure['error'] or '')}", highlight=False)


def _print_other_models(report: dict[str, Any]) -> None:
    """Chunks whose vectors are in another embedding model's collection than the configured one's."""
    others = {name: count for name, count in report["vectors_by_collection"].items() if count}
    current = report["vectors"]
    if not others or set(others) == {report["collection"]}:
        return
    held = ", ".join(f"{count} in {escape(name)}" for name, count in sorted(others.items()))
    err.print(
        f"[yellow]{escape(report['kb'])}[/]: the configured model {escape(report['embedding_model'])} has"
        f" vectors for {current} of its {report['chunks']} chunks; the ledger records {held}:"
        f" rag ingest --kb {escape(report['kb'])} embeds the rest",
        highlight=False,
    )


def print_retrieval(question: str, kb: str, found: dict[str, Any]) -> None:
    """The fused hits as a table (who found each, at which rank), then the facts and SQL results."""
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
    _print_sources_failed(found["sources_failed"])


def print_json_line(data: Any) -> None:
    """One compact JSON object on one line, flushed at once: for output read while it is written."""
    print(json.dumps(data, ensure_ascii=False, default=str), flush=True)


def write_streamed(piece: str) -> None:
    """A piece of an answer as it is written, with no line break of its own."""
    out.file.write(piece)
    out.file.flush()


def print_answer(text: str, shown: dict[str, Any]) -> None:
    """The answer text (empty when it was already streamed), then its sources."""
    out.print(escape(text), highlight=False)
    out.print()
    print_sources(shown)


def print_sources(shown: dict[str, Any]) -> None:
    """What retrieval searched for when it was not the question as asked (a follow-up's rewrite),
    then one line per citation and the sources that failed."""
    if shown["retrieval_question"] != shown["question"]:
        out.print(f"[dim]searched for:[/] {escape(shown['retrieval_question'])}", highlight=False)
    for citation in shown["citations"]:
        mark = _CITATION_MARKS.get(citation.get("how"), "") if citation["cited"] else _NOT_CITED
        where = citation.get("sql") or Path(citation["source"]).name
        found_by = ", ".join(citation["retrievers"])
        out.print(f"[bold][{citation['n']}][/] {escape(where)} [dim]({found_by})[/]{mark}", highlight=False)
    for sentence in shown.get("unsupported", []):
        out.print(f"[yellow]no source supports[/]: {escape(sentence)}", highlight=False)
    _print_sources_failed(shown["sources_failed"])


#: how a cited source came to be cited, after its line ("written": the model's own `[n]`)
_CITATION_MARKS = {"attributed": " [dim](attributed to the answer's words)[/]"}
_NOT_CITED = " [dim](given, not cited)[/]"


def _print_sources_failed(failed: list[dict[str, str]]) -> None:
    for failure in failed:
        err.print(
            f"[yellow]{escape(failure['source'])} failed[/]: {escape(failure['reason'])}", highlight=False
        )


def print_settings(shown: dict[str, Any]) -> None:
    """Each setting's name and (masked) value."""
    table = Table(title="settings (RAG_<NAME>)")
    table.add_column("name")
    table.add_column("value")
    for name, value in shown.items():
        table.add_row(name, escape(str(value)))
    out.print(table)


def print_checks(checks: list[Check]) -> None:
    """Each check, ok or FAIL, with what to do about it."""
    table = Table(title="doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in checks:
        mark = (
            "[yellow]warn[/]" if check.ok and check.warn else "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        )
        table.add_row(check.name, mark, escape(check.detail))
    out.print(table)


def show_rows(rows: list[dict[str, Any]], as_json: bool, title: str, columns: Columns) -> None:
    """The rows as JSON, or as a table with one column per entry of `columns` (header → cell)."""
    if as_json:
        print_json(rows)
        return
    table = Table(title=title)
    for header in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*(escape(str(cell(row))) for cell in columns.values()))
    out.print(table)
