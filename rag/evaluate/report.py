"""An evaluation report on screen (Rich), as JSON, and as one PNG bar chart per metric; a
conversation run's report as tables and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from rag.evaluate.conversation_runner import ConversationReport
from rag.evaluate.runner import EvalReport

#: a conversation run's figures, group by group (a figure the run has none of is left out)
_CONVERSATION_TABLES = {
    "follow-up retrieval": (
        "follow_up_recall@5",
        "standalone_recall@5",
        "follow_up_recall@5_ratio",
        "verbatim_recall@5",
    ),
    "citations": (
        "cited_answers",
        *(f"citation_{m}_{how}" for how in ("written", "attributed", "all") for m in ("precision", "recall")),
    ),
    "answers": ("right", "right_cites_gold", "contains_answer", "contains_answer_cites_gold"),
}


def report_table(report: EvalReport) -> Table:
    metrics = list(next(iter(report.retrievers.values()), {}))
    table = Table(
        title=f"{report.dataset}: {report.questions} questions, {report.passages} passages (KB {report.kb})"
    )
    table.add_column("retriever")
    for metric in metrics:
        table.add_column(metric, justify="right")
    best = {m: max(scores[m] for scores in report.retrievers.values()) for m in metrics}
    for name, scores in report.retrievers.items():
        cells = [f"[bold]{scores[m]:.3f}[/]" if scores[m] == best[m] else f"{scores[m]:.3f}" for m in metrics]
        table.add_row(name, *cells)
    return table


def answers_table(report: EvalReport) -> Table | None:
    return _row_table("answers", report.answers)


def sql_table(report: EvalReport) -> Table | None:
    return _row_table("text-to-SQL against the gold queries' rows", report.sql)


def _row_table(title: str, values: dict[str, float] | None) -> Table | None:
    """One row of metrics under their names, or None when the run measured none."""
    if not values:
        return None
    table = Table(title=title)
    for metric in values:
        table.add_column(metric, justify="right")
    table.add_row(*(f"{value:.3f}" for value in values.values()))
    return table


def write_report(report: EvalReport, folder: Path) -> list[Path]:
    """`report.json`, `questions.jsonl` (what each question retrieved, and its SQL) and
    `<metric>.png` per metric; the paths written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json"]
    written[0].write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(folder / "questions.jsonl")
    written[1].write_text(
        "".join(json.dumps(detail, ensure_ascii=False) + "\n" for detail in report.details), encoding="utf-8"
    )
    names = list(report.retrievers)
    for metric in next(iter(report.retrievers.values()), {}):
        figure, axes = pyplot.subplots(figsize=(6, 3.5))
        values = [report.retrievers[name][metric] for name in names]
        bars = axes.bar(names, values, color=["#4c72b0" if n != "fused" else "#dd8452" for n in names])
        axes.bar_label(bars, fmt="%.3f", fontsize=8)
        axes.set_ylim(0, 1.05)
        axes.set_title(f"{report.dataset}: {metric}")
        figure.tight_layout()
        path = folder / f"{metric.replace('@', '_at_')}.png"
        figure.savefig(path, dpi=110)
        pyplot.close(figure)
        written.append(path)
    return written


def conversation_tables(report: ConversationReport) -> list[Table]:
    """The run's figures, its abstentions by group and reason, rewrites and latency, and the
    issue's targets met or missed; a figure per row, so that long names fit a narrow console."""
    figures = Table(
        title=f"{report.dataset}: {report.conversations} conversations, {report.turns} turns, "
        f"{report.passages} passages (KB {report.kb})"
    )
    figures.add_column("")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    for title, names in _CONVERSATION_TABLES.items():
        for name in (n for n in names if n in report.scores):
            figures.add_row(title, name, f"{report.scores[name]:.3f}")
            title = ""
        figures.add_section()
    abstained = Table(title="abstained (unanswerable: right; answerable: wrong)")
    for column in ("turns", "all", "no_evidence", "model"):
        abstained.add_column(column, justify="right")
    for group in sorted({name.removeprefix("abstained_") for name in report.scores if _is_group(name)}):
        row = [report.scores[f"abstained_{group}{reason}"] for reason in ("", "_no_evidence", "_model")]
        abstained.add_row(group, *(f"{value:.3f}" for value in row))
    rewrites = Table(title="standalone questions, and latency (medians, ms)")
    rewrites.add_column("")
    rewrites.add_column("turns / ms", justify="right")
    for name, count in report.rewrites.items():
        rewrites.add_row(name, str(count))
    for why, count in report.fallbacks.items():
        rewrites.add_row(f"  fallback: {why}", str(count))
    rewrites.add_section()
    for name, ms in report.latency_ms.items():
        rewrites.add_row(name, f"{ms:.0f}")
    targets = Table(title="issue 16's targets")
    for column in ("figure", "value", "target", "met"):
        targets.add_column(column)
    for name, row in report.targets.items():
        met = "[green]met[/]" if row["met"] else "[red]missed[/]"
        targets.add_row(name, f"{float(row['value']):.3f}", str(row["target"]), met)
    return [figures, abstained, rewrites, targets]


def _is_group(name: str) -> bool:
    """`abstained_<group>` for a group of turns, not one of its reasons."""
    return name.startswith("abstained_") and not name.endswith(("_no_evidence", "_model"))


def write_conversation_report(report: ConversationReport, folder: Path) -> list[Path]:
    """`report.json` and `turns.jsonl` (what each turn searched, retrieved, answered and cited)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "report.json", folder / "turns.jsonl"]
    written[0].write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written[1].write_text(
        "".join(json.dumps(detail, ensure_ascii=False) + "\n" for detail in report.details), encoding="utf-8"
    )
    return written
