"""The offline extractor: entities and relations from chunks without a model.

It runs over every chunk ingested, so it composes cheap finders: English names by capitalisation and
word lists (`english`), Chinese names by jieba's dictionary tags (`chinese`), relations by the words
between two names of a sentence (`relations`). It favours precision: a plain capitalised word that
opens a sentence ("However", "Yesterday") is only an entity when the same batch also shows it
capitalised mid-sentence. `find_mentions` reads one text the same way, so that the graph retriever
finds in a question the names ingestion found in the documents.
"""

from __future__ import annotations

from rag.common.cjk import HAN_UNIFIED_CHAR
from rag.extract.batch import graph_batch
from rag.extract.chinese import find_chinese
from rag.extract.english import find_english
from rag.extract.spans import NameSpan, sentence_starts
from rag.models import Chunk, GraphBatch


class HeuristicExtractor:
    """Named entities by capitalisation and cue words (English) and jieba tags (Chinese); relations by
    co-occurrence in a sentence, typed where a verb pattern between two entities says how they relate.
    """

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch:
        return graph_batch(kb, chunks, find_names([chunk.text for chunk in chunks]))


def find_mentions(text: str) -> list[NameSpan]:
    """Every occurrence of a name the extractor recognises in `text`, in order, read as one chunk of
    its own: the graph retriever links a question's names by their spans and keys."""
    return find_names([text])[0]


def find_names(texts: list[str]) -> list[list[NameSpan]]:
    """The names of each text, in order, confirmed over all of them (see `_confirmed`): the heuristic
    reading of a batch, which the spaCy extractor also uses for the Chinese chunks it cannot read."""
    return _confirmed([_find_all(text) for text in texts])


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
