"""Entity linking: the names a question mentions, resolved to the entities of one knowledge base.

Linking reads the question the way ingestion read the documents (the same extractor, the same
`normalize_name`, jieba for Chinese), so a name in a question lands on the id its entity was stored
under. Exact ids are looked up by primary key; only names the extractor recognised but the graph does
not hold are matched fuzzily, against a bounded shortlist the store returns, by spelling and (with an
embedder) by the cosine of the names' embeddings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from rag.common.cjk import has_han, load_jieba
from rag.embed import Embedder
from rag.extract.heuristic import find_mentions
from rag.extract.names import normalize_name
from rag.models import Entity, entity_id
from rag.retrieve.keyword import STOPWORDS
from rag.stores.graph import GraphStore

#: A fuzzy link needs this similarity (difflib ratio of the normalised names, or cosine of their
#: embeddings): "alice moreaux" → "alice moreau" is 0.96, "alice" → "alice moreau" only 0.59.
LINK_THRESHOLD = 0.85
#: Longest name, in words or jieba tokens, that the exact scan of the question tries.
MAX_NGRAM = 4
#: A question longer than this many tokens is a paste; its tail is not scanned for names.
MAX_TOKENS = 64
#: Names one fuzzy mention is compared with by spelling, and of those, by embedding.
MAX_CANDIDATES = 50
EMBEDDED_CANDIDATES = 8

_WORD = re.compile(r"[^\W_]+(?:['’&.\-][^\W_]+)*")


@dataclass(slots=True, frozen=True)
class Link:
    """A span of the question resolved to a stored entity; `score` is 1.0 for an exact name."""

    mention: str
    entity: Entity
    score: float


class EntityLinker:
    """Resolves the names of a question against one graph store."""

    def __init__(self, graph: GraphStore, embedder: Embedder | None = None) -> None:
        self.graph = graph
        #: optional: lets a fuzzy link accept a shortlisted name by meaning, not spelling alone
        self.embedder = embedder

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
            # the names closest in spelling are compared by meaning too: embedding all fifty took
            # ~300 ms a mention with the 4-bit multilingual model on two cores
            nearest = sorted(range(len(candidates)), key=lambda i: -scores[i])[:EMBEDDED_CANDIDATES]
            vectors = self.embedder.embed_remembered([mention, *(candidates[i].name for i in nearest)])
            for i, vector in zip(nearest, vectors[1:], strict=True):
                scores[i] = max(scores[i], float(vector @ vectors[0]))
        best = max(range(len(candidates)), key=scores.__getitem__)
        if scores[best] < LINK_THRESHOLD:
            return None
        return Link(mention, candidates[best], scores[best])


def _ngram_spans(question: str) -> list[tuple[int, int]]:
    """Every run of 1…MAX_NGRAM tokens as (start, end) in the question that could be a name."""
    tokens = list(_tokens(question))[:MAX_TOKENS]
    spans = []
    for i, (start, _) in enumerate(tokens):
        for end in (tokens[j][1] for j in range(i, min(i + MAX_NGRAM, len(tokens)))):
            if _could_be_name(question[start:end]):
                spans.append((start, end))
    return spans


def _could_be_name(text: str) -> bool:
    """A capital, a digit or Chinese in it, or two words or more that neither start nor end with a
    stopword. A lone lower-case word ("born", "translated", "city") names a topic, not an entity,
    even where some document's heading made an entity of it: linked, it would seed the walk with
    whatever chunks happened to capitalise it."""
    if has_han(text) or any(char.isupper() or char.isdigit() for char in text):
        return True
    words = text.lower().split()
    return len(words) >= 2 and words[0] not in STOPWORDS and words[-1] not in STOPWORDS


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
