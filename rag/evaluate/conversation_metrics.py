"""Scores of a conversation run: what retrieval loses on follow-ups, whether answers stand on cited
gold passages, and whether the pipeline abstains when, and only when, the KB does not say.

The functions are pure and take `ScoredTurn`s: plain passage ids, strings and flags that the runner
copies out of each turn's answer, so they hold whatever the answer pipeline looks like:

- `ranked`: the passages retrieved for the turn as the pipeline searched it (`Answer.retrieval_question`,
  a follow-up rewritten or not), `standalone_ranked` those retrieved for its standalone form and
  `verbatim_ranked` those for the follow-up word for word (what retrieval gets without a rewrite);
- `written` / `attributed`: the passages of the citations the model wrote ([n]) and of those that
  sentence attribution added (`Citation.how`); a source given to the model but not cited is neither;
- `abstained`: `Answer.abstained` (None, "no_evidence" or "model").

A figure with no turn to average over (no follow-up, no unanswerable turn) is left out of the result
rather than reported as 0, which would read as a failure.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rag.evaluate.conversations import UNANSWERABLE_KINDS
from rag.evaluate.metrics import contains_answer, exact_match, recall_at, token_f1

#: token F1 from which an answer counts as right (with exact match), as the answer figures do
RIGHT_F1 = 0.5
#: how deep follow-up retrieval is judged
FOLLOW_UP_K = 5
#: issue 16's targets: figure → (bound, whether the figure must reach it (True) or stay under it)
TARGETS: dict[str, tuple[float, bool]] = {
    f"follow_up_recall@{FOLLOW_UP_K}_ratio": (0.9, True),
    "cited_answers": (0.95, True),
    "right_cites_gold": (0.95, True),
    "contains_answer_cites_gold": (0.95, True),
    "abstained_unanswerable": (0.8, True),
    "abstained_answerable": (0.1, False),
}


@dataclass(frozen=True, slots=True)
class ScoredTurn:
    """One turn of a conversation as the runner saw it; ids are passage ids of the set."""

    #: the passages that answer the turn; empty for an unanswerable one
    gold: frozenset[str]
    #: whether the question leans on earlier turns (it differs from its standalone form)
    follow_up: bool
    #: passage ids in rank order, each once, retrieved for the turn as the pipeline searched it
    ranked: tuple[str, ...]
    #: the same for the turn's standalone form (follow-ups only: the baseline they are held to)
    standalone_ranked: tuple[str, ...] = ()
    #: the same for the follow-up as typed (follow-ups only: what retrieval gets without a rewrite)
    verbatim_ranked: tuple[str, ...] = ()
    answer: str = ""
    #: reference answers; none means the turn's answer is not judged for being right
    answers: tuple[str, ...] = ()
    #: None when it answered; "no_evidence" or "model" when it said the KB does not say
    abstained: str | None = None
    #: passages cited by the model itself ([n] in its text)
    written: tuple[str, ...] = ()
    #: passages cited by sentence attribution after the model wrote
    attributed: tuple[str, ...] = ()
    #: an unanswerable turn's kind when its set says (`conversations.NEAR_MISS`, `OFF_TOPIC`)
    unanswerable_kind: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    @property
    def answered(self) -> bool:
        return self.abstained is None

    @property
    def cited(self) -> frozenset[str]:
        return frozenset(self.written) | frozenset(self.attributed)


def is_right(answer: str, answers: Sequence[str]) -> bool:
    """Exact match, or token F1 of at least RIGHT_F1, against any reference answer."""
    return bool(answers) and (exact_match(answer, answers) == 1.0 or token_f1(answer, answers) >= RIGHT_F1)


def follow_up_recall(turns: Iterable[ScoredTurn], k: int = FOLLOW_UP_K) -> dict[str, float]:
    """Recall@k of the answerable follow-ups as the pipeline searched them, of their standalone
    forms, and the first as a share of the second: 1.0 means the conversation costs retrieval
    nothing; and of the follow-ups word for word, what the rewrite is there to beat."""
    follow_ups = [t for t in turns if t.follow_up and t.answerable]
    if not follow_ups:
        return {}

    def recall(ranked: Callable[[ScoredTurn], Sequence[str]]) -> float:
        return statistics.fmean(recall_at(ranked(t), dict.fromkeys(t.gold, 1), k) for t in follow_ups)

    asked, alone = recall(lambda t: t.ranked), recall(lambda t: t.standalone_ranked)
    scores = {f"follow_up_recall@{k}": asked, f"standalone_recall@{k}": alone}
    if alone:
        scores[f"follow_up_recall@{k}_ratio"] = asked / alone
    scores[f"verbatim_recall@{k}"] = recall(lambda t: t.verbatim_ranked)
    return scores


def citation_coverage(turns: Iterable[ScoredTurn]) -> dict[str, float]:
    """The share of answers (abstentions aside) that carry at least one citation, of any kind."""
    answered = [t for t in turns if t.answered]
    return {"cited_answers": statistics.fmean(bool(t.cited) for t in answered)} if answered else {}


def citation_scores(turns: Iterable[ScoredTurn]) -> dict[str, float]:
    """Citation precision and recall against the gold passages over the answers to answerable turns,
    for written citations, attributed ones and both together (`all`). Precision averages over the
    answers citing something of that kind (the share of their cited passages that are gold), recall
    over all the answers (the share of gold passages cited; an answer citing nothing has 0)."""
    answered = [t for t in turns if t.answered and t.answerable]
    scores: dict[str, float] = {}
    for kind in ("written", "attributed", "all"):
        cited = [(t.cited if kind == "all" else frozenset(getattr(t, kind)), t.gold) for t in answered]
        precise = [len(c & gold) / len(c) for c, gold in cited if c]
        if precise:
            scores[f"citation_precision_{kind}"] = statistics.fmean(precise)
        if cited:
            scores[f"citation_recall_{kind}"] = statistics.fmean(
                len(c & gold) / len(gold) for c, gold in cited
            )
    return scores


def grounded_answers(turns: Iterable[ScoredTurn]) -> dict[str, float]:
    """The share of right answers (`is_right`) among the answerable turns with a reference answer,
    and the share of those right answers that cite a gold passage: right and grounded. The same
    for answers that contain a reference answer (`metrics.contains_answer`): a small model writes
    sentences, which exact match and F1 count as wrong however right they are."""
    judged = [t for t in turns if t.answerable and t.answers and t.answered]
    scores: dict[str, float] = {}
    total = sum(1 for t in turns if t.answerable and t.answers)
    for name, right in (
        ("right", [t for t in judged if is_right(t.answer, t.answers)]),
        ("contains_answer", [t for t in judged if contains_answer(t.answer, t.answers)]),
    ):
        if total:
            scores[name] = len(right) / total
        if right:
            scores[f"{name}_cites_gold"] = statistics.fmean(bool(t.cited & t.gold) for t in right)
    return scores


def abstention_rates(turns: Iterable[ScoredTurn]) -> dict[str, float]:
    """How often it abstains on unanswerable turns (right) and on answerable ones (wrong), in all
    and by reason: `no_evidence` (no model call) or `model` (the model said it does not know);
    unanswerable turns also per kind where the set names it (`abstained_unanswerable_near_miss`):
    a question near the KB's topics is much harder to turn down than one far from them."""
    scores: dict[str, float] = {}
    listed = list(turns)
    unanswerable = [t for t in listed if not t.answerable]
    kinds = sorted({t.unanswerable_kind for t in unanswerable if t.unanswerable_kind})
    for name, group in (
        ("unanswerable", unanswerable),
        *((_group(kind), [t for t in unanswerable if t.unanswerable_kind == kind]) for kind in kinds),
        ("answerable", [t for t in listed if t.answerable]),
    ):
        if not group:
            continue
        scores[f"abstained_{name}"] = statistics.fmean(not t.answered for t in group)
        for reason in ("no_evidence", "model"):
            scores[f"abstained_{name}_{reason}"] = statistics.fmean(t.abstained == reason for t in group)
    return scores


def conversation_scores(turns: Sequence[ScoredTurn]) -> dict[str, float]:
    """Every figure above for one run, as one flat mapping for the report."""
    return {
        **follow_up_recall(turns),
        **citation_coverage(turns),
        **citation_scores(turns),
        **grounded_answers(turns),
        **abstention_rates(turns),
    }


def against_targets(scores: dict[str, float]) -> dict[str, dict[str, float | bool | str]]:
    """Each target the run has a figure for: the figure, the bound (`>= 0.9`) and whether it is met.
    The unanswerable target holds for each kind of unanswerable turn as well."""
    bounds = dict(TARGETS)
    for kind in UNANSWERABLE_KINDS:
        bounds[f"abstained_{_group(kind)}"] = TARGETS["abstained_unanswerable"]
    return {
        name: {
            "value": scores[name],
            "target": f"{'>=' if at_least else '<='} {bound:g}",
            "met": scores[name] >= bound if at_least else scores[name] <= bound,
        }
        for name, (bound, at_least) in bounds.items()
        if name in scores
    }


def _group(kind: str) -> str:
    """The name of a kind's unanswerable turns in the figures: `unanswerable_near_miss`."""
    return f"unanswerable_{kind.replace('-', '_')}"
