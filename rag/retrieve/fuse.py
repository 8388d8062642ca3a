"""Weighted fusion of the retrievers' lists over chunk ids: reciprocal ranks, or relative scores.

`rrf` (the default) compares ranks, not scores: a cosine similarity, a BM25 score and a graph
hop count share no scale, while "second best of the vector retriever" means the same thing
everywhere. A chunk's fused score is Σ weight_r / (k + rank_r) over the retrievers that found
it, so being found by several retrievers counts, and k (60 in the RRF paper) damps the gap
between ranks 1 and 2.

`relative` keeps how far apart the scores are, which ranks throw away: each retriever's scores
are scaled to [0, 1] over its own list (min-max; a list of equal scores is all 1) and the fused
score is Σ weight_r · scaled_r. A clear winner of one retriever then beats a chunk two
retrievers found at middling ranks. Bruch et al. ("An Analysis of Fusion Functions for Hybrid
Retrieval", TOIS 2023) found such a convex combination better than RRF in and out of domain;
here it was better on all three sets of docs/evaluation.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from rag.models import Hit

FusionMethod = Literal["rrf", "relative"]


@dataclass(slots=True)
class FusedHit:
    """One chunk after fusion: its fused score, and each contributing retriever's rank and score."""

    hit: Hit  # the best-ranked retriever's hit: the chunk's text, source and metadata to cite
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def chunk_id(self) -> str:
        return self.hit.chunk_id


def relevance(
    score: float,
    weights: dict[str, float],
    retrievers: list[str],
    *,
    k: int = 60,
    method: FusionMethod = "rrf",
) -> float:
    """A fused score as a share of the best possible one (first of every retriever's list): in
    [0, 1], for clients that expect a normalised relevance (Dify's score_threshold)."""
    best = math.fsum(max(0.0, weights.get(name, 1.0)) for name in retrievers)
    if method == "rrf":
        best /= k + 1
    return min(1.0, score / best) if best > 0 else 0.0


def fuse(
    results: dict[str, list[Hit]],
    weights: dict[str, float],
    *,
    k: int = 60,
    top_k: int,
    method: FusionMethod = "rrf",
) -> list[FusedHit]:
    """The `top_k` chunks of all lists by weighted RRF (or relative scores), best first.

    `results` maps a retriever name to its hits (ranked by `Hit.rank`); a retriever missing from
    `weights` weighs 1.0 and one weighing 0 is left out. A chunk listed twice by one retriever
    counts once, at its best rank. Ties go to the chunk with the best single rank, then to the
    smaller chunk id, so the same lists always fuse in the same order.
    """
    if k < 0:
        raise ValueError(f"RRF k must be >= 0, not {k}")
    fused: dict[str, FusedHit] = {}
    for retriever in sorted(results):
        weight = weights.get(retriever, 1.0)
        if weight < 0:
            raise ValueError(f"weight of retriever {retriever!r} must be >= 0, not {weight}")
        if weight == 0:
            continue
        for hit in sorted(results[retriever], key=lambda h: h.rank):
            entry = fused.setdefault(hit.chunk_id, FusedHit(hit=hit, score=0.0))
            if retriever in entry.ranks:
                continue
            entry.ranks[retriever] = hit.rank
            entry.scores[retriever] = hit.score
            if hit.rank < entry.hit.rank:
                entry.hit = hit
    scaled = _min_max(fused.values()) if method == "relative" else {}
    for entry in fused.values():
        # fsum is exact, so the score does not depend on the order retrievers were added in
        if method == "relative":
            parts = (weights.get(r, 1.0) * scaled[r](entry.scores[r]) for r in entry.ranks)
        else:
            parts = (weights.get(r, 1.0) / (k + rank) for r, rank in entry.ranks.items())
        entry.score = math.fsum(parts)
    ranked = sorted(fused.values(), key=lambda e: (-e.score, min(e.ranks.values()), e.chunk_id))
    return ranked[:top_k]


def _min_max(entries: Iterable[FusedHit]) -> dict[str, Callable[[float], float]]:
    """Per retriever, its score scaled to [0, 1] over the scores it gave (its best hit 1)."""
    seen: dict[str, list[float]] = {}
    for entry in entries:
        for retriever, score in entry.scores.items():
            seen.setdefault(retriever, []).append(score)

    def scale(low: float, high: float) -> Callable[[float], float]:
        return (lambda score: (score - low) / (high - low)) if high > low else (lambda score: 1.0)

    return {retriever: scale(min(scores), max(scores)) for retriever, scores in seen.items()}
