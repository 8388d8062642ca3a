"""The base model and the adapter on the same test prompts: which one answers better, with the
uncertainty that a small test split carries.

Both models read the very prompts the training set stored for its test split (the same retrieved
sources in the same order, built once), at temperature 0, so only the generator differs. Each is
scored with `rag eval`'s answer metrics: exact match and token F1 against the gold answers, whether
a cited `[n]` is a gold source, and abstention (the answer says the sources do not tell), counted
separately on the questions whose gold was left out (where abstaining is right) and on the others
(where it is a loss). The difference is paired per question, and its 95 % interval comes from a
bootstrap over the questions: an interval that holds 0 means the test split cannot tell the two
apart. A general set, one the adapter was not trained for, shows whether it forgot what it knew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answer.abstain import model_abstained
from rag.answer.attribute import written_numbers
from rag.common.chat import ChatModel
from rag.evaluate.metrics import exact_match, token_f1
from rag.finetune.data import Example

#: metric → whether it is scored on answerable questions (True) or on those without the gold
METRICS: dict[str, bool] = {
    "exact_match": True,
    "f1": True,
    "cites_gold": True,
    "abstains_when_answerable": True,
    "abstains_without_gold": False,
}
BOOTSTRAP_SAMPLES = 2000


def score(example: Example, reply: str) -> dict[str, float]:
    """The metrics this example counts in, for one reply."""
    abstained = float(model_abstained(reply))
    if not example.answerable:
        return {"abstains_without_gold": abstained}
    cited = written_numbers(reply)
    return {
        "exact_match": exact_match(reply, example.answers),
        "f1": token_f1(reply, example.answers),
        "cites_gold": float(bool(cited & set(example.gold_numbers))),
        "abstains_when_answerable": abstained,
    }


def bootstrap_interval(differences: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """The 95 % percentile interval of the mean paired difference."""
    values = np.asarray(differences, dtype=float)
    if len(values) == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(BOOTSTRAP_SAMPLES, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (float(low), float(high))


@dataclass(slots=True)
class Row:
    metric: str
    questions: int
    base: float
    adapter: float
    difference: float
    interval: tuple[float, float]


@dataclass(slots=True)
class Comparison:
    """The rows of one set and each reply, for reading what changed."""

    name: str
    rows: list[Row] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "metrics": {
                row.metric: {
                    "questions": row.questions,
                    "base": round(row.base, 4),
                    "adapter": round(row.adapter, 4),
                    "difference": round(row.difference, 4),
                    "interval_95": [round(row.interval[0], 4), round(row.interval[1], 4)],
                }
                for row in self.rows
            },
        }


def compare(
    name: str,
    examples: Sequence[Example],
    base: ChatModel,
    adapter: ChatModel,
    *,
    max_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Both models answer every example's stored prompt; the paired rows."""
    comparison = Comparison(name)
    scored: dict[str, list[tuple[float, float]]] = {metric: [] for metric in METRICS}
    for number, example in enumerate(examples, start=1):
        said = [
            model.complete(example.prompt, max_tokens=max_tokens, temperature=0.0).strip()
            for model in (base, adapter)
        ]
        before, after = score(example, said[0]), score(example, said[1])
        for metric in before:
            scored[metric].append((before[metric], after[metric]))
        comparison.replies.append(
            {
                "id": example.id,
                "question": example.question,
                "answers": example.answers,
                "base": said[0],
                "adapter": said[1],
            }
        )
        if progress:
            progress(number)
    for metric, pairs in scored.items():
        if not pairs:
            continue
        values = np.asarray(pairs, dtype=float)
        differences = values[:, 1] - values[:, 0]
        comparison.rows.append(
            Row(
                metric,
                len(pairs),
                float(values[:, 0].mean()),
                float(values[:, 1].mean()),
                float(differences.mean()),
                bootstrap_interval(differences),
            )
        )
    return comparison
