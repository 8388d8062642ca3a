"""Personalized PageRank over a chunk–entity graph: how multi-hop questions find their second passage.

A bridge question ("Where was the director of Inception born?") names one entity; the passage that
answers it shares no words with the question and is reached only through an entity the first passage
mentions. A random walk that restarts at what the question points to (the entities it names and the
chunks dense search found) and steps chunk → entity → chunk puts mass on exactly those passages, as
HippoRAG (Gutiérrez et al., NeurIPS 2024, and HippoRAG 2, 2025) does over its passage–entity graph.

The walk runs in memory over a bounded neighbourhood the graph store returns (`GraphRetriever`
gathers it), so no graph-algorithm plug-in is assumed. An entity passes its mass to each chunk
mentioning it in proportion to 1 / (the number of chunks that mention it in the whole KB): a hub
("American", "2010") spreads its mass over hundreds of chunks, most outside the neighbourhood, so
it links nothing, while a name mentioned twice carries its mass whole. This is HippoRAG's node
specificity, read from the KB itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Probability of following an edge rather than restarting at a seed (HippoRAG uses 0.5): each hop
#: away from the seeds halves the mass, so a passage two hops out counts, four hops out hardly does.
DAMPING = 0.5
#: Power iterations; with a damping of 0.5 the error after n steps is below 0.5**n.
ITERATIONS = 30


@dataclass(slots=True)
class MentionGraph:
    """Chunks, entities and which chunk mentions which; `degree[e]` counts e's chunks in the whole KB."""

    edges: set[tuple[str, str]] = field(default_factory=set)  # (chunk id, entity id)
    degree: dict[str, int] = field(default_factory=dict)

    def add(self, mentions: Iterable[tuple[str, str]]) -> None:
        self.edges.update(mentions)


def personalized_pagerank(
    graph: MentionGraph,
    chunk_seeds: Mapping[str, float],
    entity_seeds: Mapping[str, float],
    *,
    damping: float = DAMPING,
    iterations: int = ITERATIONS,
) -> dict[str, float]:
    """Each chunk's stationary mass for a walk restarting at the seeds (their weights normalised
    to one distribution; chunk and entity seeds are given equal halves when both are present).

    Entity → chunk steps give each chunk mass / degree (the KB-wide count), so what a hub would send
    outside the neighbourhood is lost rather than concentrated on the few chunks that were gathered;
    chunk → entity steps split a chunk's mass over its entities in proportion to 1 / degree.
    """
    chunks = sorted({c for c, _ in graph.edges} | set(chunk_seeds))
    entities = sorted({e for _, e in graph.edges} | set(entity_seeds))
    chunk_index = {c: i for i, c in enumerate(chunks)}
    entity_index = {e: len(chunks) + i for i, e in enumerate(entities)}
    size = len(chunks) + len(entities)
    if size == 0:
        return {}
    restart = np.zeros(size)
    for seeds, index in ((chunk_seeds, chunk_index), (entity_seeds, entity_index)):
        total = sum(max(w, 0.0) for w in seeds.values())
        if total > 0:
            share = 1.0 if not (chunk_seeds and entity_seeds) else 0.5
            for node, weight in seeds.items():
                restart[index[node]] += share * max(weight, 0.0) / total
    if restart.sum() == 0:
        return {}
    restart /= restart.sum()

    edges = sorted(graph.edges)
    source = np.array([chunk_index[c] for c, _ in edges], dtype=np.int64)
    target = np.array([entity_index[e] for _, e in edges], dtype=np.int64)
    degree = np.array([max(graph.degree.get(e, 1), 1) for _, e in edges], dtype=float)
    # an entity's KB-wide degree is at least the chunks gathered here
    gathered = np.bincount(target, minlength=size).astype(float)
    specificity = 1.0 / np.maximum(degree, gathered[target]) if edges else np.zeros(0)
    # a chunk passes its mass to the entities it mentions in proportion to their specificity: its
    # rare names lead somewhere, the hubs it also mentions would lead everywhere
    chunk_total = np.bincount(source, weights=specificity, minlength=size)
    to_entity = specificity / chunk_total[source] if edges else np.zeros(0)
    to_chunk = specificity

    mass = restart.copy()
    for _ in range(iterations):
        step = np.zeros(size)
        if edges:
            np.add.at(step, target, mass[source] * to_entity)
            np.add.at(step, source, mass[target] * to_chunk)
        mass = (1.0 - damping) * restart + damping * step
    return {chunk: float(mass[i]) for chunk, i in chunk_index.items()}
