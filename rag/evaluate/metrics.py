"""Retrieval and answer metrics, as the IR and QA literature defines them.

Retrieval is judged on passages (a passage split into several chunks counts once, at its best
rank): recall@k (share of gold passages in the top k), complete@k (every gold passage in the top k:
what multi-hop questions need, HippoRAG's "both supporting passages retrieved"), nDCG@k with graded
relevance (gain 2^grade - 1, log2 discount, ideal order from the grades) and MRR (reciprocal rank
of the first relevant passage). Answers: exact match and token F1 after SQuAD's normalisation
(lower case, no punctuation, English articles or citation markers), with CJK text compared per
character as CMRC 2018 does. Text-to-SQL: execution accuracy, as Spider's test-suite evaluation judges it (the
predicted query's rows equal the gold query's as a multiset, in order when the gold query orders
them, up to a permutation of the columns).
"""

from __future__ import annotations

import itertools
import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ingest.tables import infer_column
from rag.common.cjk import CJK

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ZERO_FRACTION = re.compile(r"(?<=:[0-9]{2})\.0+$")
#: Columns up to which every order is tried against the gold result (6! = 720 orders at most).
MAX_PERMUTED_COLUMNS = 6
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKER = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
#: Every CJK character, kana and hangul included, is a token of its own, as CMRC 2018 scores Chinese.
_CJK = re.compile(f"[{CJK}]")
_PUNCTUATION = set(string.punctuation) | {
    "，",
    "。",
    "、",
    "；",
    "：",
    "？",
    "！",
    "“",
    "”",
    "‘",
    "’",
    "（",
    "）",
    "《",
    "》",
    "【",
    "】",
    "·",
    "…",
}


def recall_at(ranked: Sequence[str], gold: dict[str, int], k: int) -> float:
    return len(set(ranked[:k]) & set(gold)) / len(gold)


def complete_at(ranked: Sequence[str], gold: dict[str, int], k: int) -> float:
    return 1.0 if set(gold) <= set(ranked[:k]) else 0.0


def ndcg_at(ranked: Sequence[str], gold: dict[str, int], k: int) -> float:
    gains = [2 ** gold.get(pid, 0) - 1 for pid in ranked[:k]]
    dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
    ideal = sorted((2**grade - 1 for grade in gold.values()), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: dict[str, int]) -> float:
    return next((1.0 / rank for rank, pid in enumerate(ranked, start=1) if pid in gold), 0.0)


def retrieval_scores(ranked: Sequence[str], gold: dict[str, int]) -> dict[str, float]:
    """Every retrieval metric of one question's ranked passage ids."""
    return {
        "recall@1": recall_at(ranked, gold, 1),
        "recall@5": recall_at(ranked, gold, 5),
        "recall@10": recall_at(ranked, gold, 10),
        "complete@5": complete_at(ranked, gold, 5),
        "ndcg@10": ndcg_at(ranked, gold, 10),
        "mrr": reciprocal_rank(ranked, gold),
    }


def answer_tokens(text: str) -> list[str]:
    """SQuAD's normalisation, then words; CJK characters are tokens of their own. Citation markers
    (`[2]`, `[1, 3]`) are the answer's references, not its words: "Columbus, Ohio [1]." matches
    "Columbus, Ohio"."""
    text = _MARKER.sub(" ", unicodedata.normalize("NFKC", text)).lower()
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    text = _CJK.sub(lambda m: f" {m.group(0)} ", text)
    return text.split()


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    predicted = answer_tokens(prediction)
    return max((1.0 if predicted == answer_tokens(answer) else 0.0 for answer in answers), default=0.0)


def contains_answer(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when a gold answer's tokens stand, in order and together, in the prediction: the
    "accuracy" of PopQA and Self-RAG, for answers written as sentences, which exact match and F1
    count as wrong for their length ("He joined in 2019." against "2019")."""
    predicted = answer_tokens(prediction)
    for answer in answers:
        gold = answer_tokens(answer)
        if gold and any(predicted[i : i + len(gold)] == gold for i in range(len(predicted) - len(gold) + 1)):
            return 1.0
    return 0.0


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best F1 over the gold answers of the tokens shared with the prediction."""
    predicted = answer_tokens(prediction)
    best = 0.0
    for answer in answers:
        gold = answer_tokens(answer)
        shared = sum((Counter(predicted) & Counter(gold)).values())
        if shared:
            precision, recall = shared / len(predicted), shared / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def result_cell(value: Any) -> Any:
    """A cell as both databases can agree on it: numbers (and numeric text, which a CSV round
    trip turns into numbers) as floats to 4 places, so 1, 1.0 and "1" meet; dates and times as
    ISO text; everything else as stripped text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return round(float(value), 4)
    if isinstance(value, datetime):
        return _ZERO_FRACTION.sub("", value.isoformat(sep=" "))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    text = str(value).strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        return round(float(text), 4)
    return _ZERO_FRACTION.sub("", text)


def _typed_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """The rows with each column typed as ingest types a CSV column, then as `result_cell`s: the
    gold side comes from the original database, the predicted side from the CSV round trip, which
    turns "yes" into true, "" (and "N/A" in a column of numbers) into NULL, "2008/1/2" into a date."""
    columns = [infer_column(list(column))[1] for column in zip(*rows, strict=True)]
    return [tuple(result_cell(value) for value in row) for row in zip(*columns, strict=True)]


def same_result(gold: Sequence[Sequence[Any]], predicted: Sequence[Sequence[Any]], *, ordered: bool) -> bool:
    """Whether two query results hold the same rows: in the same order when `ordered`, else as
    multisets; a different column order counts as the same result (up to MAX_PERMUTED_COLUMNS)."""
    if len(gold) != len(predicted):
        return False
    if not gold:
        return True
    width = len(gold[0])
    if any(len(row) != width for row in [*gold, *predicted]):
        return False
    gold_rows, rows = _typed_rows(gold), _typed_rows(predicted)
    orders = itertools.permutations(range(width)) if width <= MAX_PERMUTED_COLUMNS else [tuple(range(width))]
    expected: list[Any] | Counter[Any] = gold_rows if ordered else Counter(gold_rows)
    for order in orders:
        permuted = [tuple(row[i] for i in order) for row in rows]
        if (permuted if ordered else Counter(permuted)) == expected:
            return True
    return False
