"""An ingest's graph writes, gathered into transactions that grow with the graph.

LadybugDB's commit costs time in proportion to the graph it commits to, not to what it commits
(heuristic extraction, measured per commit: pages of 256 chunks 0.38 s at 10k chunks in the graph
and 0.79 s at 20k; pages of 1,024 chunks 0.57 s and 0.81 s). One transaction per page of 256 made
the graph stage grow with the square of the KB: 36 s for the first 20k chunks, 81 % of it in
COMMIT. A transaction per tenth of the graph (at least a page, at most `MAX_CHUNKS`) keeps the
commits few as the graph grows, and the first pages of a new KB still commit one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.models import GraphBatch

#: each transaction gathers at least this share of the chunks the graph holds already
SHARE = 0.1
#: and at most this many chunks (their entities, mentions and relations held meanwhile)
MAX_CHUNKS = 8192


@dataclass
class GraphWrites:
    """The extracted graph of the pages whose vectors are written, until it is due."""

    kb: str
    #: chunks the graph holds (before this run, plus what it has written since)
    graph_chunks: int
    #: the fewest chunks worth a transaction: a page
    floor: int
    pending: GraphBatch = field(init=False)

    def __post_init__(self) -> None:
        self.pending = GraphBatch(kb=self.kb)

    def add(self, batch: GraphBatch) -> None:
        self.pending.chunks += batch.chunks
        self.pending.entities += batch.entities
        self.pending.mentions += batch.mentions
        self.pending.relations += batch.relations

    @property
    def due(self) -> bool:
        gathered = len(self.pending.chunks)
        return gathered >= max(self.floor, min(MAX_CHUNKS, int(SHARE * self.graph_chunks)))

    def take(self) -> GraphBatch:
        """What is gathered, for one upsert; gathering starts again."""
        batch, self.pending = self.pending, GraphBatch(kb=self.kb)
        self.graph_chunks += len(batch.chunks)
        return batch
