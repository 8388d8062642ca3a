"""Run an evaluation set through the real pipeline: ingest its corpus into a KB, retrieve every
question with each retriever alone and fused (one fused retrieval yields both: `Retrieval.results`
holds each retriever's own list), and optionally answer it.

The corpus becomes one text file per passage under `RAG_DATA_DIR/eval/<content hash>/`, ingested
like any folder; ingestion is incremental, so a second run over the same set finds every file
unchanged and reuses the KB. A chunk maps back to its passage through its file.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.evaluate.dataset import EvalSet
from rag.evaluate.metrics import exact_match, retrieval_scores, token_f1
from rag.pipeline import NOTHING_FOUND, AnswerPipeline

FUSED = "fused"
#: chunks asked of each retriever and of fusion: enough distinct passages for the @10 metrics
DEPTH = 20
#: what the answer prompt tells the model to say when the sources do not answer (prompts.py)
_ABSTENTION = re.compile(
    r"cannot answer|can't answer|do not (know|contain)|don't know|no information|无法回答|不知道"
)


@dataclass(slots=True)
class EvalReport:
    dataset: str
    kb: str
    questions: int
    passages: int
    #: retriever (or "fused") → metric → mean over the questions
    retrievers: dict[str, dict[str, float]] = field(default_factory=dict)
    answers: dict[str, float] | None = None
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
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "settings": self.settings,
        }


def kb_name(eval_set: EvalSet) -> str:
    """`eval-<set>-<hash>`: a changed corpus gets a KB of its own."""
    slug = re.sub(r"[^a-z0-9]+", "-", eval_set.name.lower()).strip("-")[:40] or "set"
    return f"eval-{slug}-{eval_set.content_hash()[:8]}"


def write_corpus(eval_set: EvalSet, data_dir: Path) -> tuple[Path, dict[str, str]]:
    """One file per passage (written once per content hash); file path → passage id."""
    folder = data_dir / "eval" / eval_set.content_hash()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}
    for number, passage in enumerate(eval_set.passages):
        path = folder / f"{number:07d}.txt"
        if not path.is_file():
            path.write_text(passage.document, encoding="utf-8")
        sources[str(path)] = passage.id
    return folder, sources


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
    """Every question through `pipeline` (whose retrievers are the ones compared)."""
    report = EvalReport(eval_set.name, kb, len(eval_set.questions), len(eval_set.passages))
    names = [r.name for r in pipeline.retriever.retrievers]
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in [*names, FUSED]}
    answered: list[dict[str, float]] = []
    started = time.perf_counter()
    retrieval_s = 0.0
    for number, question in enumerate(eval_set.questions, start=1):
        began = time.perf_counter()
        found = pipeline.retrieve(question.question, kb, top_k=DEPTH)
        retrieval_s += time.perf_counter() - began
        for name in names:
            ranked = passage_ranking((hit.source for hit in found.results.get(name, [])), passage_of)
            scores[name].append(retrieval_scores(ranked, question.gold))
        fused = passage_ranking((hit.hit.source for hit in found.hits), passage_of)
        scores[FUSED].append(retrieval_scores(fused, question.gold))
        if answers:
            answered.append(
                _answer_scores(pipeline, question.question, question.answers, question.gold, kb, passage_of)
            )
        if progress:
            progress(number)
    report.retrievers = {name: mean_scores(rows) for name, rows in scores.items() if rows}
    if answers:
        report.answers = mean_scores(answered)
    report.seconds = {"retrieval": retrieval_s, "total": time.perf_counter() - started}
    report.settings["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return report


def mean_scores(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over per-question scores (empty for no questions)."""
    return {metric: statistics.fmean(row[metric] for row in rows) for metric in rows[0]} if rows else {}


def _answer_scores(
    pipeline: AnswerPipeline,
    question: str,
    gold_answers: list[str],
    gold: dict[str, int],
    kb: str,
    passage_of: dict[str, str],
) -> dict[str, float]:
    answer = pipeline.ask(question, kb)
    cited = {passage_of.get(c.source) for c in answer.citations if c.cited}
    abstained = answer.answer.strip() == NOTHING_FOUND or bool(_ABSTENTION.search(answer.answer.lower()))
    return {
        "exact_match": exact_match(answer.answer, gold_answers) if gold_answers else 0.0,
        "f1": token_f1(answer.answer, gold_answers) if gold_answers else 0.0,
        "cites_gold": 1.0 if cited & set(gold) else 0.0,
        "abstained": 1.0 if abstained else 0.0,
    }
