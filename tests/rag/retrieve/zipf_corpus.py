"""A small KB of Zipf-distributed words for the keyword level search of both backends: the first
words are in most chunks, the last in a few, as in real text."""

from __future__ import annotations

import random

from rag.models import Chunk, Document, chunk_id, document_id
from rag.stores.sql import SqlStore

WORDS = [f"word{n}" for n in range(60)] + ["meridian", "quokka", "zymurgy"]
WEIGHTS = [1.0 / (rank + 1) ** 0.8 for rank in range(len(WORDS))]


def store_texts(sql: SqlStore, kb: str, name: str, texts: list[str]) -> None:
    """One document of these chunk texts; every other chunk has metadata `part` 1, the rest 0."""
    sql.create_kb(kb)
    document = Document(
        id=document_id(kb, name), kb=kb, source=name, content_hash=name.ljust(64, "0"), mime="text/plain"
    )
    chunks = [
        Chunk(
            id=chunk_id(document.id, n),
            document_id=document.id,
            kb=kb,
            ordinal=n,
            text=text,
            token_count=len(text.split()),
            metadata={"part": n % 2},
        )
        for n, text in enumerate(texts)
    ]
    sql.store_document(document, chunks, [])


def store_zipf_kbs(sql: SqlStore) -> None:
    """2,000 chunks of 30 Zipf-drawn words in KB `z`, and 50 look-alikes in KB `other`."""
    rng = random.Random(7)
    for number in range(20):
        texts = [" ".join(rng.choices(WORDS, WEIGHTS, k=30)) for _ in range(100)]
        store_texts(sql, "z", f"doc{number}.txt", texts)
    store_texts(sql, "other", "doc.txt", ["zymurgy quokka meridian word0 word1"] * 50)


def zipf_questions() -> list[str]:
    """Questions of 1–6 of the words, and three edge cases."""
    rng = random.Random(11)
    return [" ".join(rng.sample(WORDS, rng.randint(1, 6))) for _ in range(60)] + [
        "word0 word1 word2",  # only common words: every level is full of ties
        "zymurgy",  # a rare word alone
        "notaword zymurgy word0",  # a word the KB lacks
    ]
