"""Weighted reciprocal-rank fusion of the retrievers' lists over chunk ids.

Fusion compares ranks, not scores: a cosine similarity, a BM25 score and a graph hop count
share no scale, while "second best of the vector retriever" means the same thing everywhere.
A chunk's fused score is Σ weight_r / (k + rank_r) over the retrievers that found it, so being
found by several retrievers counts, and k (60 in the RRF paper) damps the gap between ranks 1 and 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rag.models import Hit


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


def relevance(score: float, weights: dict[str, float], retrievers: list[str], *, k: int = 60) -> float:
    """A fused score as a share of the best possible one (rank 1 in every retriever): in [0, 1],
    for clients that expect a normalised relevance (Dify's score_threshold)."""
    best = math.fsum(max(0.0, weights.get(name, 1.0)) for name in retrievers) / (k + 1)
    return min(1.0, score / best) if best > 0 else 0.0


def fuse(
    results: dict[str, list[Hit]], weights: dict[str, float], *, k: int = 60, top_k: int
) -> list[FusedHit]:
    """The `top_k` chunks of all lists by weighted RRF, best first.

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
    for entry in fused.values():
        # fsum is exact, so the score does not depend on the order retrievers were added in
        entry.score = math.fsum(weights.get(r, 1.0) / (k + rank) for r, rank in entry.ranks.items())
    ranked = sorted(fused.values(), key=lambda e: (-e.score, min(e.ranks.values()), e.chunk_id))
    return ranked[:top_k]
