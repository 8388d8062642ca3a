"""From the names found in each chunk to the graph the store records: one rule for every offline finder.

The heuristic extractor and the spaCy extractor find names differently but must build the same graph
from them: an entity per `normalize_name` key (so either extractor, or both over time, writes one
graph), its type decided by weighing every occurrence in the batch, a mention per chunk that names it,
and the relations `find_relations` reads between the names of one sentence.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from rag.extract.names import display_name
from rag.extract.relations import ROLE_TYPES, find_relations
from rag.extract.spans import GUESS, NameSpan
from rag.models import OTHER, Chunk, Entity, GraphBatch, Mention, Relation, entity_id


def graph_batch(kb: str, chunks: list[Chunk], found: list[list[NameSpan]]) -> GraphBatch:
    """The batch for `chunks`, where `found[i]` are the names of `chunks[i]` in text order.

    A type is the heaviest vote over the batch: each occurrence votes its own type with its weight,
    and a typed relation votes (as a guess) the roles it gives its ends ("works_at": a person at an
    organisation).
    """
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
            batch.relations.append(Relation(kb, ids[source], ids[target], type_, chunk.id, chunk.document_id))
    return batch


def _decide_type(votes: Counter[str]) -> str:
    return votes.most_common(1)[0][0] if votes else OTHER
