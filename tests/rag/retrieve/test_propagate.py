"""The personalized PageRank behind graph retrieval, on hand-built chunk–entity graphs."""

from __future__ import annotations

import pytest

from rag.retrieve.propagate import MentionGraph, personalized_pagerank

pytestmark = pytest.mark.fast


def two_hops_and_a_hub() -> MentionGraph:
    """`alice` (the question's entity) is in c1; c1 also names `vantor`, which c2 names (the bridge:
    it shares nothing with the question); c1 also names `europe`, a hub in a hundred chunks."""
    graph = MentionGraph()
    graph.add([("c1", "alice"), ("c1", "vantor"), ("c2", "vantor"), ("c1", "europe")])
    graph.add((f"hub{n}", "europe") for n in range(20))  # the 20 of its 100 chunks that were read
    graph.add([("c3", "lyon"), ("c3", "vantor"), ("far", "lyon")])
    graph.degree.update({"alice": 1, "vantor": 3, "europe": 100, "lyon": 2})
    return graph


def test_the_walk_reaches_the_bridge_passage_before_the_hub_s_chunks() -> None:
    scores = personalized_pagerank(two_hops_and_a_hub(), {}, {"alice": 1.0})
    ranked = sorted(scores, key=lambda chunk: -scores[chunk])
    assert ranked[0] == "c1"
    assert set(ranked[1:3]) == {"c2", "c3"}  # one entity away from the question's chunk
    assert scores["c2"] > 10 * scores["hub0"]  # the hub spreads its mass over 100 chunks
    assert scores["c3"] > scores["far"] > 0  # each hop further counts less
    assert sum(scores.values()) < 1.0  # what the hub sends to chunks not gathered is lost


def test_dense_seeds_and_entity_seeds_share_the_restart() -> None:
    graph = two_hops_and_a_hub()
    entities_only = personalized_pagerank(graph, {}, {"alice": 1.0})
    with_seed = personalized_pagerank(graph, {"far": 1.0}, {"alice": 1.0})
    assert with_seed["far"] > entities_only["far"] and with_seed["c1"] < entities_only["c1"]
    assert with_seed["c1"] > with_seed["c2"]


def test_a_graph_without_seeds_or_nodes_scores_nothing() -> None:
    assert personalized_pagerank(MentionGraph(), {}, {}) == {}
    assert personalized_pagerank(two_hops_and_a_hub(), {}, {"alice": 0.0}) == {}
    # a seed that mentions nothing keeps its restart share; what would follow an edge is lost
    assert personalized_pagerank(MentionGraph(), {"lonely": 1.0}, {}) == {"lonely": pytest.approx(0.5)}
