"""Graph retrieval: a personalized PageRank from the entities a question names and the chunks dense
search found, over their chunk–entity neighbourhood; and the relations around those entities.

This answers the multi-hop questions no single chunk answers: "In which city does Alice Moreau work?"
needs "Alice Moreau works at Vantor Labs" from one document and "Vantor Labs is located in Lyon" from
another, which shares no word with the question. The walk (`propagate.py`) reaches the second through
the entity both mention. The facts go to the prompt; the chunks the walk ranks join fusion as hits.

A question that names no entity of the KB gets nothing from this retriever: without a link the walk
would only echo dense search, and fusion would count that list twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from rag.common.filters import filterable, matches, parse
from rag.common.reasons import one_line
from rag.embed import Embedder
from rag.models import Fact, Hit
from rag.retrieve.base import Evidence, Retriever, chunk_hit, ledger_chunks
from rag.retrieve.graph_link import EntityLinker, Link
from rag.retrieve.propagate import MentionGraph, personalized_pagerank
from rag.stores.errors import StoreUnavailable
from rag.stores.graph import GraphStore
from rag.stores.sql import SqlStore
from rag.stores.vector import VectorStore

log = logging.getLogger(__name__)

#: Dense hits that seed the walk beside the linked entities (weighted 1/rank): the passage that
#: holds the first hop is usually among them even when its entity was not linked.
SEED_CHUNKS = 5
#: An entity mentioned by more chunks than this is a hub: its mass still flows (thinly), but its
#: chunks are not gathered, which bounds the neighbourhood whatever the KB's size.
HUB_DEGREE = 50
#: Chunks whose entities are gathered for the second hop: the seeds first, then the chunks of the
#: linked entities.
MAX_FRONTIER = 40
#: Facts gathered around the linked entities for the prompt.
MAX_FACTS = 40


class GraphRetriever(Retriever):
    """Chunks ranked by a personalized PageRank around the question's entities, and their facts."""

    name = "graph"

    def __init__(
        self,
        graph: GraphStore,
        sql: SqlStore,
        embedder: Embedder | None = None,
        vector: VectorStore | None = None,
        hops: int = 2,
    ) -> None:
        self.graph = graph
        self.sql = sql
        self.linker = EntityLinker(graph, embedder)
        #: with both, the walk also restarts at the question's nearest chunks
        self.embedder = embedder
        self.vector = vector
        self.hops = hops
        #: how many chunks mention an entity: counting a hub's mentions is the walk's dearest read
        #: (tens of ms at 100k chunks), and the same hubs come up question after question
        self.degrees = DegreeCache(graph)

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        return self.retrieve_with_facts(question, kb, top_k, filters)[0]

    def gather(self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None) -> Evidence:
        hits, facts, confidence = self._walk(question, kb, top_k, filters)
        return Evidence(hits, facts=facts, confidence=confidence)

    def link(self, question: str, kb: str) -> list[Link]:
        """The entities of `kb` the question names (`graph_link.EntityLinker`)."""
        return self.linker.link(question, kb)

    def retrieve_with_facts(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> tuple[list[Hit], list[Fact]]:
        """The hits (at most `top_k`) and the facts whose chunks the ledger holds and the filters keep;
        the facts are for the prompt, the hits for fusion."""
        hits, facts, _ = self._walk(question, kb, top_k, filters)
        return hits, facts

    def _walk(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None
    ) -> tuple[list[Hit], list[Fact], float]:
        """Hits, facts, and the confidence of the best entity link (1.0 for an exact name)."""
        if top_k <= 0:
            return [], [], 0.0
        links = self.link(question, kb)
        if not links:
            return [], [], 0.0
        chunk_seeds = self._dense_seeds(question, kb, filters)
        graph = self._neighbourhood(kb, links, list(chunk_seeds))
        entity_seeds = {
            link.entity.id: link.score / graph.degree[link.entity.id]
            for link in links
            if graph.degree.get(link.entity.id)
        }
        scores = personalized_pagerank(graph, chunk_seeds, entity_seeds)
        facts = self.graph.neighbourhood(kb, [link.entity.id for link in links], self.hops, MAX_FACTS)
        connected = self._connected(graph, links)
        ranked = sorted((c for c in connected if scores.get(c, 0) > 0), key=lambda c: (-scores[c], c))
        wanted = parse(filters)
        candidates = list(dict.fromkeys([*ranked[: 2 * top_k], *(fact.chunk_id for fact in facts)]))
        kept = {
            chunk_id: record
            for chunk_id, record in ledger_chunks(self.sql, candidates, kb, self.name).items()
            if matches(wanted, filterable(record[0]))
        }
        best = [chunk_id for chunk_id in ranked[: 2 * top_k] if chunk_id in kept][:top_k]
        hits = [
            chunk_hit(kept[chunk_id][0], kept[chunk_id][1], scores[chunk_id], self.name, rank)
            for rank, chunk_id in enumerate(best, start=1)
        ]
        confidence = max(link.score for link in links) if hits else 0.0
        return hits, [fact for fact in facts if fact.chunk_id in kept], confidence

    def _dense_seeds(self, question: str, kb: str, filters: dict[str, Any] | None) -> dict[str, float]:
        """The question's nearest chunks, weighted 1/rank (scale-free: cosines of different models
        and questions share no scale)."""
        if self.vector is None or self.embedder is None:
            return {}
        try:
            found = self.vector.search(self.embedder.embed_query(question).tolist(), kb, SEED_CHUNKS, filters)
        except StoreUnavailable as exc:  # the vector retriever reports it; the walk goes on from the names
            log.warning("event=graph_seeds_unavailable kb=%s error=%s", kb, one_line(exc))
            return {}
        return {point.id: 1.0 / rank for rank, point in enumerate(found, start=1)}

    def _neighbourhood(self, kb: str, links: list[Link], seed_chunks: list[str]) -> MentionGraph:
        """Two hops of mentions around the seeds: the chunks of the linked entities, the entities of
        those chunks and of the dense seeds, and the chunks of those entities; hubs are not expanded."""
        graph = MentionGraph()
        linked = list(dict.fromkeys(link.entity.id for link in links))
        graph.degree.update(self.degrees(kb, linked))
        first = self.graph.entity_mentions(kb, self._specific(graph, linked))
        graph.add(first)
        # the chunks whose entities are read next: the dense seeds, then those naming the most
        # specific of the linked entities (the store returns mentions in no particular order)
        weight: dict[str, float] = {}
        for chunk, entity in first:
            weight[chunk] = weight.get(chunk, 0.0) + 1.0 / graph.degree[entity]
        named = sorted(weight, key=lambda chunk: (-weight[chunk], chunk))
        frontier = list(dict.fromkeys([*seed_chunks, *named]))[:MAX_FRONTIER]
        around = self.graph.chunk_mentions(kb, frontier)
        graph.add(around)
        reached = list(dict.fromkeys(entity for _, entity in around if entity not in graph.degree))
        graph.degree.update(self.degrees(kb, reached))
        graph.add(self.graph.entity_mentions(kb, self._specific(graph, reached)))
        return graph

    def _connected(self, graph: MentionGraph, links: list[Link]) -> set[str]:
        """The chunks the question's entities reach: those mentioning one, and those sharing a
        specific entity with one of these. A dense seed outside them steers the walk but is not
        returned: it would only repeat dense search's list, which fusion already counts."""
        linked = {link.entity.id for link in links}
        first = {chunk for chunk, entity in graph.edges if entity in linked}
        bridges = {entity for chunk, entity in graph.edges if chunk in first}
        bridges = set(self._specific(graph, list(bridges)))
        return first | {chunk for chunk, entity in graph.edges if entity in bridges}

    @staticmethod
    def _specific(graph: MentionGraph, entity_ids: list[str]) -> list[str]:
        return [e for e in entity_ids if 0 < graph.degree.get(e, 0) <= HUB_DEGREE]


class DegreeCache:
    """Entity degrees per KB, read from the store at most once a minute per entity: a specificity
    a minute old is as good for ranking, and an ingest changes few degrees much."""

    #: entities remembered, across KBs (about 100 bytes each)
    SIZE = 100_000
    TTL_S = 60.0

    def __init__(self, graph: GraphStore) -> None:
        self.graph = graph
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def __call__(self, kb: str, entity_ids: list[str]) -> dict[str, int]:
        """Entity id → degree (0 for an entity no chunk mentions, left out of the result)."""
        now = time.monotonic()
        found: dict[str, int] = {}
        missing: list[str] = []
        with self._lock:
            for entity in dict.fromkeys(entity_ids):
                cached = self._known.get((kb, entity))
                if cached is not None and now - cached[0] < self.TTL_S:
                    found[entity] = cached[1]
                else:
                    missing.append(entity)
        if missing:
            read = self.graph.entity_degrees(kb, missing)
            with self._lock:
                for entity in missing:
                    found[entity] = read.get(entity, 0)
                    self._known[(kb, entity)] = (now, found[entity])
                    self._known.move_to_end((kb, entity))
                while len(self._known) > self.SIZE:
                    self._known.popitem(last=False)
        return {entity: degree for entity, degree in found.items() if degree > 0}
