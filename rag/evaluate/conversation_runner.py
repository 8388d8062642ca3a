"""Play a conversation set (`conversations.py`) through the real answer pipeline, turn by turn, and
score it (`conversation_metrics.py`).

Each turn is asked with the conversation so far as history, the pipeline's own earlier answers
included, so a follow-up is resolved against what the user really saw. The runner takes the
pipeline's steps one by one, as `AnswerPipeline.stream` does, to see inside them: the standalone
question (`AnswerPipeline.standalone`: asked as is, rewritten, or a fallback and why), one
retrieval of it `DEPTH` chunks deep (scored, then cut to the pipeline's `top_k` and answered from,
as `rag eval --answers` does), and the answer with that history. A follow-up's standalone form is
retrieved as well, the baseline its recall is held to, and so is the follow-up word for word
(when it was rewritten): what the rewrite has to beat. Time to prompt-ready is the rewrite and
the retrieval as timed here, plus the prompt's assembly as the answer times it.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rag.answer.pipeline import AnswerPipeline
from rag.evaluate.conversation_metrics import ScoredTurn, against_targets, conversation_scores, is_right
from rag.evaluate.conversations import ConversationSet, EvalTurn
from rag.evaluate.metrics import contains_answer
from rag.evaluate.runner import DEPTH, passage_ranking
from rag.models import Answer, Turn

#: passages of each ranking kept in a turn's record (the figures judge the first 5)
SHOWN = 5


@dataclass(slots=True)
class ConversationReport:
    dataset: str
    kb: str
    conversations: int
    turns: int
    passages: int
    #: `conversation_scores` of the run
    scores: dict[str, float] = field(default_factory=dict)
    #: follow-ups, and how each turn's standalone question came about (asked, rewritten, fallback)
    rewrites: dict[str, int] = field(default_factory=dict)
    #: why rewrites fell back to the question as asked → how often
    fallbacks: dict[str, int] = field(default_factory=dict)
    #: medians in milliseconds: time to prompt-ready (all turns, rewritten ones) and to the answer
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: one record per turn: what it searched, retrieved, answered and cited
    details: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> dict[str, dict[str, float | bool | str]]:
        return against_targets(self.scores)

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "kb": self.kb,
            "conversations": self.conversations,
            "turns": self.turns,
            "passages": self.passages,
            "scores": {name: round(value, 4) for name, value in self.scores.items()},
            "targets": {
                name: {**row, "value": round(float(row["value"]), 4)} for name, row in self.targets.items()
            },
            "rewrites": self.rewrites,
            "fallbacks": self.fallbacks,
            "latency_ms": {name: round(value, 1) for name, value in self.latency_ms.items()},
            "seconds": {name: round(value, 1) for name, value in self.seconds.items()},
            "settings": self.settings,
        }


def play(
    pipeline: AnswerPipeline,
    conversation_set: ConversationSet,
    kb: str,
    passage_of: dict[str, str],
    *,
    progress: Callable[[int], None] | None = None,
) -> ConversationReport:
    """Every conversation through `pipeline` against `kb` (its corpus ingested, `passage_of`
    mapping each file back to its passage); `progress` gets the number of turns done."""
    report = ConversationReport(
        conversation_set.name,
        kb,
        len(conversation_set.conversations),
        len(conversation_set.turns),
        len(conversation_set.passages),
    )
    scored: list[ScoredTurn] = []
    hows: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    started = time.perf_counter()
    # load the model now: a rewrite's deadline should not count the load of an in-process model
    pipeline.chat.complete([{"role": "user", "content": "Hello"}], max_tokens=1)
    for conversation in conversation_set.conversations:
        history: list[Turn] = []
        for index, turn in enumerate(conversation.turns):
            one, answer, detail = play_turn(pipeline, turn, kb, history, passage_of)
            detail = {"id": conversation.turn_id(index), "shape": conversation.shape, **detail}
            scored.append(one)
            report.details.append(detail)
            hows[detail["how"]] += 1
            if detail["how"] == "fallback":
                fallbacks[detail["fallback"]] += 1
            history += [Turn("user", turn.question), Turn("assistant", answer.answer)]
            if progress:
                progress(len(scored))
    report.scores = conversation_scores(scored)
    report.rewrites = {"follow_ups": sum(t.follow_up for t in conversation_set.turns), **_hows(hows)}
    report.fallbacks = dict(fallbacks.most_common())
    report.latency_ms = _latency(report.details)
    report.seconds = {"total": time.perf_counter() - started}
    report.settings["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return report


def play_turn(
    pipeline: AnswerPipeline, turn: EvalTurn, kb: str, history: Sequence[Turn], passage_of: dict[str, str]
) -> tuple[ScoredTurn, Answer, dict[str, Any]]:
    """One turn asked after `history`: its scores, the answer, and the record of what happened."""
    began = time.perf_counter()
    standalone = pipeline.standalone(turn.question, history)
    found = pipeline.retrieve(standalone.question, kb, top_k=DEPTH)
    searched_ms = (time.perf_counter() - began) * 1000
    ranked = passage_ranking((hit.hit.source for hit in found.hits), passage_of)
    cut = dataclasses.replace(found, hits=found.hits[: pipeline.top_k])
    answer = pipeline.ask(turn.question, kb, found=cut, history=history)
    standalone_ranked: list[str] = []
    verbatim_ranked: list[str] = []
    if turn.follow_up:
        standalone_ranked = _ranking(pipeline, turn.standalone, kb, passage_of)
        unchanged = standalone.question == turn.question  # searched word for word already
        verbatim_ranked = ranked if unchanged else _ranking(pipeline, turn.question, kb, passage_of)
    written = _cited(answer, "written", passage_of)
    attributed = _cited(answer, "attributed", passage_of)
    abstained = answer.abstained.value if answer.abstained is not None else None
    judged = bool(turn.answers) and abstained is None
    one = ScoredTurn(
        gold=frozenset(turn.gold),
        follow_up=turn.follow_up,
        ranked=tuple(ranked),
        standalone_ranked=tuple(standalone_ranked),
        verbatim_ranked=tuple(verbatim_ranked),
        answer=answer.answer,
        answers=tuple(turn.answers),
        abstained=abstained,
        written=written,
        attributed=attributed,
        unanswerable_kind=turn.unanswerable_kind,
    )
    detail: dict[str, Any] = {
        "question": turn.question,
        "searched": standalone.question,
        "how": standalone.how,
        "standalone": turn.standalone if turn.follow_up else None,
        "gold": sorted(turn.gold),
        "answerable": turn.answerable,
        "unanswerable_kind": turn.unanswerable_kind or None,
        "ranked": ranked[:SHOWN],
        "standalone_ranked": standalone_ranked[:SHOWN] if turn.follow_up else None,
        "verbatim_ranked": verbatim_ranked[:SHOWN] if turn.follow_up else None,
        "answer": answer.answer,
        "answers": turn.answers,
        "right": is_right(answer.answer, turn.answers) if judged else None,
        "contains_answer": bool(contains_answer(answer.answer, turn.answers)) if judged else None,
        "abstained": abstained,
        "written": list(written),
        "attributed": list(attributed),
        "prompt_ready_ms": round(searched_ms + answer.timings_ms["prompt_ready"], 1),
        "answer_ms": round(searched_ms + answer.timings_ms["total"], 1),
    }
    if standalone.how == "fallback":
        detail["fallback"] = standalone.reason or "unknown"
    return one, answer, detail


def _ranking(pipeline: AnswerPipeline, question: str, kb: str, passage_of: dict[str, str]) -> list[str]:
    """The passages retrieved for `question`, `DEPTH` chunks deep, each once."""
    found = pipeline.retrieve(question, kb, top_k=DEPTH)
    return passage_ranking((hit.hit.source for hit in found.hits), passage_of)


def _cited(answer: Answer, how: str, passage_of: dict[str, str]) -> tuple[str, ...]:
    """The passages of the answer's citations that came about `how` ("written", "attributed"),
    each once; a block of graph facts or a SQL result maps to no passage and is left out."""
    sources = (c.source for c in answer.citations if c.cited and c.how == how)
    return tuple(dict.fromkeys(passage_of[s] for s in sources if s in passage_of))


def _hows(hows: Counter[str]) -> dict[str, int]:
    return {how: hows[how] for how in ("asked", "rewritten", "fallback")}


def _latency(details: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Medians: time to prompt-ready over all turns, over those retrieved for as asked and over
    those that asked the model for a rewrite (a model call before retrieval: where half the turns
    are follow-ups, the median of all falls between the two groups), and time to the answer."""
    medians: dict[str, float] = {}
    rewritten = [d for d in details if d["how"] != "asked"]
    for name, group, key in (
        ("prompt_ready_p50", details, "prompt_ready_ms"),
        ("prompt_ready_p50_asked", [d for d in details if d["how"] == "asked"], "prompt_ready_ms"),
        ("prompt_ready_p50_rewrites", rewritten, "prompt_ready_ms"),
        ("answer_p50", details, "answer_ms"),
    ):
        if group:
            medians[name] = statistics.median(d[key] for d in group)
    return medians
