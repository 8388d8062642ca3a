"""Weighted fusion (reciprocal ranks and relative scores), on hand-made ranked lists."""

from __future__ import annotations

import pytest

from rag.models import Hit
from rag.retrieve.fuse import fuse, relevance

pytestmark = pytest.mark.fast


def ranked(retriever: str, *chunk_ids: str) -> list[Hit]:
    """Hits of one retriever in this order, with scores on the retriever's own scale."""
    return [
        Hit(
            chunk_id=cid,
            document_id=f"doc-{cid}",
            kb="kb",
            text=f"text of {cid}",
            source=f"/docs/{cid}.txt",
            score=100.0 - rank,
            retriever=retriever,
            rank=rank,
        )
        for rank, cid in enumerate(chunk_ids, start=1)
    ]


def ids(fused: list) -> list[str]:
    return [entry.chunk_id for entry in fused]


def test_a_chunk_found_by_two_retrievers_outranks_one_found_by_one_at_the_same_rank() -> None:
    results = {"vector": ranked("vector", "a", "both"), "keyword": ranked("keyword", "b", "both")}
    fused = fuse(results, {}, top_k=10)
    assert ids(fused)[0] == "both"
    assert fused[0].score == pytest.approx(2 / 62)
    assert set(ids(fused)) == {"a", "b", "both"}


def test_rrf_score_is_the_weighted_sum_of_reciprocal_ranks() -> None:
    results = {"vector": ranked("vector", "x", "y"), "keyword": ranked("keyword", "y")}
    fused = {e.chunk_id: e for e in fuse(results, {"vector": 2.0, "keyword": 0.5}, k=10, top_k=10)}
    assert fused["x"].score == pytest.approx(2.0 / 11)
    assert fused["y"].score == pytest.approx(2.0 / 12 + 0.5 / 11)


def test_weights_decide_between_retrievers_that_disagree() -> None:
    results = {"vector": ranked("vector", "v1", "v2"), "keyword": ranked("keyword", "k1", "k2")}
    assert ids(fuse(results, {"vector": 2.0, "keyword": 1.0}, top_k=2)) == ["v1", "v2"]
    assert ids(fuse(results, {"vector": 1.0, "keyword": 2.0}, top_k=2)) == ["k1", "k2"]


def test_a_retriever_weighing_zero_is_left_out() -> None:
    results = {"vector": ranked("vector", "v1"), "graph": ranked("graph", "g1", "v1")}
    fused = fuse(results, {"graph": 0.0}, top_k=10)
    assert ids(fused) == ["v1"]
    assert fused[0].ranks == {"vector": 1}


def test_negative_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="graph"):
        fuse({"graph": ranked("graph", "g1")}, {"graph": -1.0}, top_k=1)


def test_ties_are_broken_deterministically_whatever_the_input_order() -> None:
    # same fused score for every chunk: best single rank first, then chunk id
    forward = {"vector": ranked("vector", "c", "a"), "keyword": ranked("keyword", "a", "c")}
    backward = {"keyword": ranked("keyword", "a", "c"), "vector": ranked("vector", "c", "a")}
    assert ids(fuse(forward, {}, top_k=10)) == ids(fuse(backward, {}, top_k=10)) == ["a", "c"]
    alone = {"vector": ranked("vector", "z"), "keyword": ranked("keyword", "m")}
    assert ids(fuse(alone, {}, top_k=10)) == ["m", "z"]


def test_each_contributing_retrievers_rank_and_score_are_kept() -> None:
    results = {
        "vector": ranked("vector", "a", "b", "c"),
        "keyword": ranked("keyword", "c"),
        "graph": ranked("graph", "x", "c"),
    }
    c = next(e for e in fuse(results, {}, top_k=10) if e.chunk_id == "c")
    assert c.ranks == {"vector": 3, "keyword": 1, "graph": 2}
    assert c.scores == {"vector": 97.0, "keyword": 99.0, "graph": 98.0}
    assert (c.hit.retriever, c.hit.text, c.hit.source) == ("keyword", "text of c", "/docs/c.txt")


def test_a_chunk_listed_twice_by_one_retriever_counts_once_at_its_best_rank() -> None:
    hits = ranked("graph", "a", "b", "a")
    fused = fuse({"graph": hits}, {}, top_k=10)
    assert ids(fused) == ["a", "b"]
    assert fused[0].ranks == {"graph": 1} and fused[0].score == pytest.approx(1 / 61)


def test_top_k_cuts_the_fused_list_and_empty_input_fuses_to_nothing() -> None:
    results = {"vector": ranked("vector", *"abcdef")}
    assert ids(fuse(results, {}, top_k=3)) == ["a", "b", "c"]
    assert fuse({}, {}, top_k=5) == []
    assert fuse({"vector": []}, {"vector": 1.0}, top_k=5) == []


def scored(retriever: str, **scores: float) -> list[Hit]:
    """Hits of one retriever with the given scores, ranked by them."""
    order = sorted(scores, key=lambda cid: -scores[cid])
    hits = ranked(retriever, *order)
    for hit in hits:
        hit.score = scores[hit.chunk_id]
    return hits


def test_relative_fusion_sums_each_retrievers_min_max_scaled_scores() -> None:
    results = {
        "vector": scored("vector", a=0.9, b=0.5, c=0.4),  # scaled: a 1, b 0.2, c 0
        "keyword": scored("keyword", b=20.0, d=12.0, c=10.0),  # scaled: b 1, d 0.2, c 0
    }
    fused = {e.chunk_id: e for e in fuse(results, {"vector": 2.0}, top_k=10, method="relative")}
    assert fused["a"].score == pytest.approx(2.0)
    assert fused["b"].score == pytest.approx(2.0 * 0.2 + 1.0)
    assert fused["d"].score == pytest.approx(0.2)
    assert fused["c"].score == pytest.approx(0.0)
    assert [e.chunk_id for e in fuse(results, {"vector": 2.0}, top_k=2, method="relative")] == ["a", "b"]


def test_relative_fusion_keeps_the_gaps_that_ranks_lose() -> None:
    # vector is sure of "clear"; keyword scores "close", "m" and "clear" almost alike
    results = {
        "vector": scored("vector", clear=0.9, close=0.35, z=0.3),
        "keyword": scored("keyword", close=10.0, m=9.95, clear=9.9, y=1.0),
    }
    assert ids(fuse(results, {}, top_k=1, method="relative")) == ["clear"]  # 1 + 0.989 against 0.083 + 1
    assert ids(fuse(results, {}, top_k=1, method="rrf")) == ["close"]  # ranks 2 + 1 against 1 + 3
    # a list of equal scores (or one hit) scales to 1 throughout
    flat = {"graph": scored("graph", g1=2.0, g2=2.0)}
    assert [e.score for e in fuse(flat, {}, top_k=2, method="relative")] == [1.0, 1.0]


def test_relevance_is_the_share_of_the_best_possible_score() -> None:
    weights = {"vector": 1.0, "keyword": 1.0, "graph": 0.0}
    retrievers = ["vector", "keyword", "graph"]
    assert relevance(2 / 61, weights, retrievers) == pytest.approx(1.0)  # rank 1 in both
    assert relevance(1 / 61, weights, retrievers) == pytest.approx(0.5)
    assert relevance(1.5, weights, retrievers, method="relative") == pytest.approx(0.75)
    assert relevance(1.5, {"vector": 0.0}, ["vector"], method="relative") == 0.0
