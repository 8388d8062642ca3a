"""Run an evaluation set through the real pipeline: ingest its corpus into a KB, retrieve every
question with each retriever alone and fused (one fused retrieval yields both: `Retrieval.results`
holds each retriever's own list), and optionally answer it.

The corpus becomes one text file per passage under `RAG_DATA_DIR/eval/<content hash>/`, ingested
like any folder; ingestion is incremental, so a second run over the same set finds every file
unchanged and reuses the KB. A chunk maps back to its passage through its file. A set grouped by
database (text-to-SQL) gets a subfolder and a KB per database, its tables exported as CSV files;
the SQL retriever's ranking is the tables its query read, and its query is judged by execution
accuracy against the gold query's rows.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.answer.pipeline import AnswerPipeline
from rag.evaluate.dataset import EvalQuestion, EvalSet
from rag.evaluate.metrics import exact_match, retrieval_scores, same_result, token_f1
from rag.evaluate.text2sql import MAX_RESULT_ROWS, export_table, gold_result, is_ordered
from rag.models import slug
from rag.retrieve.fused import Retrieval

FUSED = "fused"
#: chunks asked of each retriever and of fusion: enough distinct passages for the @10 metrics
DEPTH = 20
#: what the answer prompt tells the model to say when the sources do not answer (prompts.py)


@dataclass(slots=True)
class EvalReport:
    dataset: str
    kb: str
    questions: int
    passages: int
    #: retriever (or "fused") → metric → mean over the questions
    retrievers: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: dict[str, float] | None = None
    #: text-to-SQL: execution accuracy and the share of questions where a query ran
    sql: dict[str, float] | None = None
    #: one record per question: the passages fused first and, for SQL, both queries and why one failed
    details: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "kb": self.kb,
            "questions": self.questions,
            "passages": self.passages,
            "retrievers": {
                name: {k: round(v, 4) for k, v in m.items()} for name, m in self.retrievers.items()
            },
            "answers": {k: round(v, 4) for k, v in self.answers.items()}
            if self.answers is not None
            else None,
            "sql": {k: round(v, 4) for k, v in self.sql.items()} if self.sql is not None else None,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "settings": self.settings,
        }


def kb_name(eval_set: EvalSet) -> str:
    """`eval-<set>-<hash>`: a changed corpus gets a KB of its own."""
    name = slug(eval_set.name)[:40] or "set"
    return f"eval-{name}-{eval_set.content_hash()[:8]}"


def group_kbs(eval_set: EvalSet, kb: str) -> dict[str, str]:
    """The KB of each group of passages: `kb` itself for a set that is one group, else
    `<kb>-<group>` per database."""
    kbs: dict[str, str] = {}
    for group in eval_set.groups:
        name = f"{kb}-{slug(group)}" if group else kb
        while name in kbs.values():  # `a_b` and `a-b` slug alike
            name += "-"
        kbs[group] = name
    return kbs


def write_corpus(eval_set: EvalSet, data_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """One file per passage (written once per content hash), a folder per group: the folder of
    each group, and file path → passage id. A table is named after itself (`<table>.csv`): the
    file name becomes the SQL table's name that the model reads."""
    root = data_dir / "eval" / eval_set.content_hash()[:16]
    folders = {group: root / group if group else root for group in eval_set.groups}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}
    for number, passage in enumerate(eval_set.passages):
        folder = folders[passage.group]
        if passage.database is not None:
            path = folder / f"{passage.title.replace('/', '_')}.csv"
            if not path.is_file():
                export_table(passage, path)
        else:
            path = folder / f"{number:07d}.txt"
            if not path.is_file():
                path.write_text(passage.document, encoding="utf-8")
        sources[str(path)] = passage.id
    return folders, sources


def passage_ranking(sources: Iterable[str], passage_of: dict[str, str]) -> list[str]:
    """Passage ids in the order their chunks came, each once (at its best rank)."""
    return list(dict.fromkeys(passage_of[s] for s in sources if s in passage_of))


def evaluate(
    pipeline: AnswerPipeline,
    eval_set: EvalSet,
    kb: str,
    passage_of: dict[str, str],
    *,
    answers: bool = False,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Every question through `pipeline` (whose retrievers are the ones compared); `kb` is the
    KB of a one-group set, and the stem of each group's KB otherwise (`group_kbs`)."""
    report = EvalReport(eval_set.name, kb, len(eval_set.questions), len(eval_set.passages))
    kbs = group_kbs(eval_set, kb)
    databases = {p.group: p.database for p in eval_set.passages if p.database is not None}
    names = [r.name for r in pipeline.retriever.retrievers]
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in [*names, FUSED]}
    answered: list[dict[str, float]] = []
    executed: list[dict[str, float]] = []
    started = time.perf_counter()
    retrieval_s = 0.0
    for number, question in enumerate(eval_set.questions, start=1):
        began = time.perf_counter()
        found = pipeline.retrieve(question.question, kbs[question.group], top_k=DEPTH)
        retrieval_s += time.perf_counter() - began
        for name in names:
            ranked = passage_ranking(_sources(found, name), passage_of)
            scores[name].append(retrieval_scores(ranked, question.gold))
        fused = passage_ranking((hit.hit.source for hit in found.hits), passage_of)
        scores[FUSED].append(retrieval_scores(fused, question.gold))
        detail: dict[str, Any] = {"id": question.id, "question": question.question, "fused": fused[:5]}
        detail["gold"] = sorted(question.gold)
        if question.sql and "sql" in names:
            executed.append(execution_scores(found, question, databases[question.group]))
            failures = [f.reason for f in found.failed if f.source == "sql"]
            detail["sql"] = {
                "gold": question.sql,
                "predicted": found.tables[0].sql if found.tables else None,
                "correct": bool(executed[-1]["execution_accuracy"]),
                "failure": failures[0] if failures else None,
            }
        report.details.append(detail)
        if answers:
            scored, said = _answer_scores(pipeline, question, found, kbs[question.group], passage_of)
            answered.append(scored)
            detail["answer"] = said
        if progress:
            progress(number)
    report.retrievers = {name: mean_scores(rows) for name, rows in scores.items() if rows}
    if answers:
        report.answers = mean_scores(answered)
    if executed:
        report.sql = mean_scores(executed)
    report.seconds = {"retrieval": retrieval_s, "total": time.perf_counter() - started}
    report.settings["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return report


def mean_scores(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over per-question scores (empty for no questions)."""
    return {metric: statistics.fmean(row[metric] for row in rows) for metric in rows[0]} if rows else {}


def _sources(found: Retrieval, name: str) -> list[str]:
    """A retriever's ranking as sources: its chunks', or for SQL the tables its query read."""
    if name == "sql":
        return [source for table in found.tables for source in table.sources]
    return [hit.source for hit in found.results.get(name, [])]


def execution_scores(found: Retrieval, question: EvalQuestion, database: Path | None) -> dict[str, float]:
    """Whether the SQL retriever's query returned the gold query's rows (no query: wrong; a gold
    result over MAX_RESULT_ROWS rows cannot be compared, counts as wrong and as `too_large`)."""
    assert database is not None  # a question with gold SQL belongs to a database's group
    gold = gold_result(database, question.sql)
    too_large = float(len(gold) > MAX_RESULT_ROWS)
    if not found.tables:
        return {"execution_accuracy": 0.0, "query_ran": 0.0, "too_large": too_large}
    correct = not too_large and same_result(gold, found.tables[0].rows, ordered=is_ordered(question.sql))
    return {"execution_accuracy": float(correct), "query_ran": 1.0, "too_large": too_large}


def _answer_scores(
    pipeline: AnswerPipeline, question: EvalQuestion, found: Retrieval, kb: str, passage_of: dict[str, str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """The answer written from the retrieval already scored, cut to the pipeline's own top_k (the
    fused order does not depend on the depth asked: RRF ranks the same candidates)."""
    cut = dataclasses.replace(found, hits=found.hits[: pipeline.top_k])
    answer = pipeline.ask(question.question, kb, found=cut)
    cited = [passage_of[c.source] for c in answer.citations if c.cited and c.source in passage_of]
    abstained = answer.abstained is not None
    gold_answers = question.answers
    scores = {
        "exact_match": exact_match(answer.answer, gold_answers) if gold_answers else 0.0,
        "f1": token_f1(answer.answer, gold_answers) if gold_answers else 0.0,
        "cites_gold": 1.0 if set(cited) & set(question.gold) else 0.0,
        "abstained": 1.0 if abstained else 0.0,
    }
    return scores, {"text": answer.answer, "cited": list(dict.fromkeys(cited)), "gold": question.answers}
