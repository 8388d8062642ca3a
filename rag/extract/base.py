"""The extractor interface: ingestion depends on it, so the heuristic and LLM extractors can swap."""

from __future__ import annotations

from typing import Protocol

from rag.models import Chunk, GraphBatch


class Extractor(Protocol):
    """Turns a batch of chunks of one KB into the graph the graph store records."""

    def extract(self, kb: str, chunks: list[Chunk]) -> GraphBatch: ...


class ExtractorUnavailable(Exception):
    """The configured extractor cannot run at all (its library or model is not installed); the message
    names the setting and how to fix it, so ingestion stops before it records empty graphs."""
