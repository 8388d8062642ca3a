"""Graph retrieval: the entities a question names, their 1–2 hop neighbourhood, and the chunks behind them.

This answers the multi-hop questions no single chunk answers: "In which city does Alice Moreau work?"
needs "Alice Moreau works at Vantor Labs" from one document and "Vantor Labs is located in Lyon" from
another. The facts go to the prompt; the chunks that mention the named entities or justify the facts
join fusion as hits.

Linking reads the question the way ingestion read the documents (the same extractor, the same
`normalize_name`, jieba for Chinese), so a name in a question lands on the id its entity was stored
under. Exact ids are looked up by primary key; only names the extractor recognised but the graph does
not hold are matched fuzzily, against a bounded shortlist the store returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from rag.common.cjk import has_han, load_jieba
from rag.common.filters import filterable, matches, parse
from rag.embed import Embedder
from rag.extract.heuristic import find_mentions
from rag.extract.names import normalize_name
from rag.models import CO_OCCURS, Entity, Fact, Hit, entity_id
from rag.retrieve.base import Evidence, Retriever, chunk_hit, ledger_chunks
from rag.retrieve.keyword import STOPWORDS
from rag.stores.graph import GraphStore
from rag.stores.sql import SqlStore

#: A fuzzy link needs this similarity (difflib ratio of the normalised names, or cosine of their
#: embeddings): "alice moreaux" → "alice moreau" is 0.96, "alice" → "alice moreau" only 0.59.
LINK_THRESHOLD = 0.85
#: An entity one hop further from the question counts half as much, and so does a fact that only
#: records two names in one sentence rather than a typed relation.
HOP_DECAY = 0.5
UNTYPED_WEIGHT = 0.5
#: Longest name, in words or jieba tokens, that the exact scan of the question tries.
MAX_NGRAM = 4
#: A question longer than this many tokens is a paste; its tail is not scanned for names.
MAX_TOKENS = 64
#: Names one fuzzy mention is compared with, and facts gathered around the linked entities.
MAX_CANDIDATES = 50
MAX_FACTS = 40

_WORD = re.compile(r"[^\W_]+(?:['’&.\-][^\W_]+)*")


@dataclass(slots=True, frozen=True)
class Link:
    """A span of the question resolved to a stored entity; `score` is 1.0 for an exact name."""

    mention: str
    entity: Entity
    score: float


class GraphRetriever(Retriever):
    """Chunks and facts around the entities a question names, scored by link quality and hop distance."""

    name = "graph"

    def __init__(
        self, graph: GraphStore, sql: SqlStore, embedder: Embedder | None = None, hops: int = 2
    ) -> None:
        self.graph = graph
        self.sql = sql
        #: optional: lets a fuzzy link accept a shortlisted name by meaning, not spelling alone
        self.embedder = embedder
        self.hops = hops

    def retrieve(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> list[Hit]:
        return self.retrieve_with_facts(question, kb, top_k, filters)[0]

    def gather(self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None) -> Evidence:
        hits, facts = self.retrieve_with_facts(question, kb, top_k, filters)
        return Evidence(hits, facts=facts)

    def retrieve_with_facts(
        self, question: str, kb: str, top_k: int, filters: dict[str, Any] | None = None
    ) -> tuple[list[Hit], list[Fact]]:
        """The hits (at most `top_k`) and the facts whose chunks the ledger holds and the filters keep,
        nearest first; the facts are for the prompt, the hits for fusion."""
        if top_k <= 0:
            return [], []
        links = self.link(question, kb)
        if not links:
            return [], []
        ids = [link.entity.id for link in links]
        facts = self.graph.neighbourhood(kb, ids, self.hops, MAX_FACTS)
        mentioning = self.graph.mentioning_chunks(kb, ids, max(2 * top_k, 20))
        scores = chunk_scores(links, facts, mentioning)
        wanted = parse(filters)
        kept = {
            chunk_id: record
            for chunk_id, record in ledger_chunks(self.sql, list(scores), kb, self.name).items()
            if matches(wanted, filterable(record[0]))
        }
        ranked = sorted(kept, key=lambda chunk_id: -scores[chunk_id])[:top_k]
        hits = [
            chunk_hit(chunk, source, scores[chunk.id], self.name, rank)
            for rank, (chunk, source) in enumerate((kept[chunk_id] for chunk_id in ranked), start=1)
        ]
        return hits, [fact for fact in facts if fact.chunk_id in kept]

    def link(self, question: str, kb: str) -> list[Link]:
        """Entities of `kb` named in the question: exact normalised names first (longest span wins),
        then a fuzzy match for each name the extractor recognised that no exact link covers."""
        spans = _ngram_spans(question)
        recognised = _recognised_spans(question)
        keys = {span: normalize_name(question[span[0] : span[1]]) for span in [*spans, *recognised]}
        stored = {entity.id: entity for entity in self.graph.find_entities(kb, list(set(keys.values())))}
        links: dict[str, Link] = {}
        taken: list[tuple[int, int]] = []
        for span in sorted(keys, key=lambda s: (s[0] - s[1], s[0])):
            entity = stored.get(entity_id(kb, keys[span]))
            if entity is not None and not _overlaps(span, taken):
                taken.append(span)
                links.setdefault(entity.id, Link(question[span[0] : span[1]], entity, 1.0))
        for span in recognised:
            if not _overlaps(span, taken) and (link := self._fuzzy(question[span[0] : span[1]], kb)):
                taken.append(span)
                if link.entity.id not in links:
                    links[link.entity.id] = link
        return list(links.values())

    def _fuzzy(self, mention: str, kb: str) -> Link | None:
        """The closest name on the store's shortlist for the mention's words, if close enough."""
        key = normalize_name(mention)
        words = [word for word in key.split() if len(word) >= 3 or has_han(word)]
        candidates = self.graph.entity_candidates(kb, words, MAX_CANDIDATES)
        if not candidates:
            return None
        scores = [SequenceMatcher(None, key, normalize_name(c.name)).ratio() for c in candidates]
        if self.embedder is not None:
            vectors = self.embedder.embed_queries([mention, *(c.name for c in candidates)])
            cosines = vectors[1:] @ vectors[0]
            scores = [max(score, float(cosine)) for score, cosine in zip(scores, cosines, strict=True)]
        best = max(range(len(candidates)), key=scores.__getitem__)
        if scores[best] < LINK_THRESHOLD:
            return None
        return Link(mention, candidates[best], scores[best])


def chunk_scores(
    links: list[Link], facts: list[Fact], mentioning: list[tuple[str, list[str]]]
) -> dict[str, float]:
    """Each chunk's score: the link scores of the question's entities it mentions, plus for each fact it
    justifies the weight of the fact's far end (an entity's weight halves with every hop from a link).
    Facts come nearest first, so a 2-hop fact finds its near end already weighted."""
    weight = {link.entity.id: link.score for link in links}
    scores: dict[str, float] = {}
    for chunk_id, entity_ids in mentioning:
        scores[chunk_id] = sum(weight[e] for e in entity_ids)
    for fact in facts:
        near = max(weight.get(fact.source_id, 0.0), weight.get(fact.target_id, 0.0))
        far = near * HOP_DECAY * (UNTYPED_WEIGHT if fact.relation == CO_OCCURS else 1.0)
        scores[fact.chunk_id] = scores.get(fact.chunk_id, 0.0) + far
        for node in (fact.source_id, fact.target_id):
            weight[node] = max(weight.get(node, 0.0), far)
    return scores


def _ngram_spans(question: str) -> list[tuple[int, int]]:
    """Every run of 1…MAX_NGRAM tokens as (start, end) in the question, skipping lone stopwords."""
    tokens = list(_tokens(question))[:MAX_TOKENS]
    spans = []
    for i, (start, _) in enumerate(tokens):
        for end in (tokens[j][1] for j in range(i, min(i + MAX_NGRAM, len(tokens)))):
            if end != tokens[i][1] or question[start:end].lower() not in STOPWORDS:
                spans.append((start, end))
    return spans


def _tokens(question: str) -> Iterable[tuple[int, int]]:
    """Word spans; a run holding Chinese is cut by jieba, as the extractor cuts documents."""
    for match in _WORD.finditer(question):
        if not has_han(match.group()):
            yield match.span()
            continue
        offset = match.start()
        for token in load_jieba().cut(match.group()):
            if _WORD.fullmatch(token):
                yield offset, offset + len(token)
            offset += len(token)


def _recognised_spans(question: str) -> list[tuple[int, int]]:
    """Where the names the extractor finds in the question lie: the first occurrence of each key, in
    the order the names first appear."""
    first: dict[str, tuple[int, int]] = {}
    for mention in find_mentions(question):
        first.setdefault(mention.key, (mention.start, mention.end))
    return list(first.values())


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)
