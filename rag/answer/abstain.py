"""Honest abstention: "the knowledge base does not say", without a model call when retrieval
found nothing convincing, and marked as such when the model says it itself.

A question whose answer is in no document still gets a full context: every retriever returns its
best matches, however poor. A small model given five unrelated passages answers from them
anyway. So before the model is called, the best dense match is compared with what this KB's own
pseudo-queries reach when their answer is absent (`calibrate.evidence_levels`, learned with the
fusion weights): a question whose best match scores below `abstain_below` of those answer-absent
matches is answered "the knowledge base does not say", in the question's language, at once.
Without a calibration (a KB too small, or `RAG_FUSION_LEARN=false`) nothing is decided before
the model, which can still abstain itself.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from rag.common.cjk import has_han

#: What the answer says when retrieval found nothing convincing.
NOT_IN_KB = {
    "en": "The knowledge base does not say: I found nothing in it that answers this question.",
    "zh": "知识库中没有相关内容：我没有找到能回答这个问题的资料。",
}
#: What an answer says when the sources given do not answer (fine-tuning teaches it).
SOURCES_SILENT = {
    "en": "The sources do not say: none of them answers this question.",
    "zh": "资料中没有相关内容：没有一条资料能回答这个问题。",
}
#: How a model says it does not know (English and Chinese), anywhere in a short answer or as
#: the opening of a long one.
_MODEL_ABSTAINS = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|answer|find|tell|say)|"
    r"(do|does) not (contain|mention|say|provide|include|specify|state)|"
    r"(no|not enough|insufficient) (information|details|mention|data)|"
    r"(not|isn't|is not) (mentioned|stated|provided|specified|included) in|"
    r"unable to (answer|find|determine)|cannot be (answered|determined))\b"
    r"|不知道|无法回答|无法确定|没有提到|未提及|没有提及|没有相关|未找到|没有找到|没有说明|并未",
    re.IGNORECASE,
)
#: An answer longer than this (characters) abstains only if it opens by saying so.
SHORT_ANSWER = 200


def not_in_kb(question: str) -> str:
    """The abstention in the question's language (Chinese when it holds Han characters)."""
    return NOT_IN_KB["zh" if has_han(question) else "en"]


def sources_silent(question: str) -> str:
    """`SOURCES_SILENT` in the question's language."""
    return SOURCES_SILENT["zh" if has_han(question) else "en"]


def model_abstained(answer: str) -> bool:
    """Whether the model's answer says the sources do not answer the question."""
    text = answer.strip()
    if len(text) > SHORT_ANSWER:
        text = text[:SHORT_ANSWER]
    return bool(_MODEL_ABSTAINS.search(text))


def absent_share(score: float, absent_levels: Sequence[float]) -> float:
    """Share of the KB's answer-absent pseudo-queries whose best match scores below `score`:
    0.0 when the question's best match is worse than all of them, 1.0 when better than all."""
    if not absent_levels:
        return 1.0
    return bisect.bisect_left(absent_levels, score) / len(absent_levels)


def unconvincing(best_score: float | None, absent_levels: Sequence[float], abstain_below: float) -> bool:
    """Whether the best dense match is too poor to answer from: below `abstain_below` of the KB's
    answer-absent levels. No dense score (no vector retriever) or no levels: never."""
    if best_score is None or not absent_levels or abstain_below <= 0:
        return False
    return absent_share(best_score, absent_levels) < abstain_below
