"""An evaluation report on screen (Rich), as JSON, and as one PNG bar chart per metric."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from rag.evaluate.runner import EvalReport


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
