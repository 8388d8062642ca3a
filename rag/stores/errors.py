"""Errors shared by every store backend."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """A store cannot be reached or opened; the message names the store and its URL (secrets masked)."""


class VectorsMissing(Exception):
    """A knowledge base has chunks but the configured embedding model's collection holds no
    vectors for them (ingested under another model): vector search would find nothing, silently."""

    def __init__(self, kb: str, chunks: int, model: str) -> None:
        super().__init__(
            f"KB {kb} has {chunks} chunks and no vectors for model {model}: run rag ingest --kb {kb}"
        )
        self.kb = kb


class DiskFull(StoreUnavailable):
    """A folder of the embedded stores has less free space than RAG_MIN_FREE_MB: writing on would
    risk the process (the engines map their files into memory: a full disk is a SIGBUS, not an
    error), so the ingest stops where it can resume."""
