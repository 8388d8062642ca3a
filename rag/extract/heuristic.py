"""The offline extractor: entities and relations from chunks without a model.

It runs over every chunk ingested, so it composes cheap finders: English names by capitalisation and
word lists (`english`), Chinese names by jieba's dictionary tags (`chinese`), relations by the words
between two names of a sentence (`relations`). It favours precision: a plain capitalised word that
opens a sentence ("However", "Yesterday") is only an entity when the same batch also shows it
capitalised mid-sentence. `find_mentions` reads one text the same way, so that the graph retriever
finds in a question the names ingestion found in the documents.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from rag.common.cjk import HAN_UNIFIED_CHAR
from rag.extract.chinese import find_chinese
from rag.extract.english import find_english
from rag.extract.names import display_name
from rag.extract.relations import ROLE_TYPES, find_relations
from rag.extract.spans import GUESS, NameSpan, sentence_starts
from rag.models import OTHER, Chunk, Entity, GraphBatch, Mention, Relation, entity_id


class HeuristicExtractor:
    """Named entities by capitalisation and cue words (English) and jieba tags (Chinese); relations by
    co-occurrence in a sentence, typed where a verb pattern between two entities says how they relate.
    """

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch:
        found = _confirmed([_find_all(chunk.text) for chunk in chunks])
        names: dict[str, Counter[str]] = defaultdict(Counter)
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for per_chunk in found:
            for f in per_chunk:
                names[f.key][f.name] += 1
                if f.type != OTHER:
                    votes[f.key][f.type] += f.weight
        chunk_relations = [
            find_relations(chunk.text, per_chunk) for chunk, per_chunk in zip(chunks, found, strict=True)
        ]
        for relations in chunk_relations:
            for source, target, type_ in relations:
                for key, role in zip((source, target), ROLE_TYPES.get(type_, (None, None)), strict=True):
                    if role is not None:
                        votes[key][role] += GUESS

        ids = {key: entity_id(kb, key) for key in names}
        batch = GraphBatch(kb=kb, chunks=list(chunks))
        batch.entities = [
            Entity(ids[key], kb, display_name(variants), _decide_type(votes[key]))
            for key, variants in names.items()
        ]
        for chunk, per_chunk, relations in zip(chunks, found, chunk_relations, strict=True):
            for key in dict.fromkeys(f.key for f in per_chunk):
                batch.mentions.append(Mention(chunk.id, ids[key]))
            for source, target, type_ in relations:
                batch.relations.append(
                    Relation(kb, ids[source], ids[target], type_, chunk.id, chunk.document_id)
                )
        return batch


def find_mentions(text: str) -> list[NameSpan]:
    """Every occurrence of a name the extractor recognises in `text`, in order, read as one chunk of
    its own: the graph retriever links a question's names by their spans and keys."""
    return _confirmed([_find_all(text)])[0]


def _find_all(text: str) -> list[NameSpan]:
    starts = sentence_starts(text)
    found = find_english(text, starts)
    if HAN_UNIFIED_CHAR.search(text):
        found += find_chinese(text, starts)
        found.sort(key=lambda f: f.start)
    return found


def _confirmed(found: list[list[NameSpan]]) -> list[list[NameSpan]]:
    """Drop the sentence-initial single words whose key the batch never shows capitalised elsewhere."""
    known = {f.key for per_chunk in found for f in per_chunk if not f.initial}
    return [[f for f in per_chunk if not f.initial or f.key in known] for per_chunk in found]


def _decide_type(votes: Counter[str]) -> str:
    return votes.most_common(1)[0][0] if votes else OTHER
