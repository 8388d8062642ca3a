"""Weighted reciprocal-rank fusion, on hand-made ranked lists."""

from __future__ import annotations

import pytest

from rag.models import Hit
from rag.retrieve.fuse import fuse


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
