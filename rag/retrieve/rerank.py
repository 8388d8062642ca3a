"""Optional second stage: a reranker reads the question with each fused chunk and reorders them.

Two kinds share the `Reranker` interface: the cross-encoder here, and the LLM reranker on the model
server (`rerank_llm.py`); `rag/answer/pipeline.py` builds the one the settings name.

Fusion ranks by agreement between retrievers; a cross-encoder reads question and passage together,
which is slower (one forward pass per pair) but judges relevance better, so it reorders a short
fused list rather than searching. No cross-encoder ships inside a package, so the setting names a
local model folder (e.g. a downloaded ms-marco-MiniLM or bge-reranker), loaded offline.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from rag.models import SourceFailure
from rag.retrieve.fuse import FusedHit

#: the key of the reranker's score in `FusedHit.scores`
RERANK = "rerank"


class RerankerError(Exception):
    """The configured reranker cannot be loaded; the message names the folder."""


class Reranker(Protocol):
    """Reorders fused hits by a relevance score of its own, kept in `scores["rerank"]`."""

    def rerank(
        self, question: str, hits: list[FusedHit], top_k: int, failed: list[SourceFailure] | None = None
    ) -> list[FusedHit]:
        """The `top_k` best of `hits`, best first. A reranker that degrades instead of failing (a
        late model server) appends why to `failed`, as a retriever's failure is reported."""
        ...


class CrossEncoderReranker:
    """Reorders fused hits by a cross-encoder's relevance score (kept in `scores["rerank"]`)."""

    def __init__(self, model_path: str, batch_size: int = 16) -> None:
        self.path = Path(model_path).expanduser()
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @cached_property
    def model(self) -> Any:
        if not (self.path / "config.json").is_file():
            raise RerankerError(
                f"RAG_RERANKER_MODEL={str(self.path)!r} is not a model folder (no config.json); "
                "point it at a local cross-encoder, or leave it empty to rank by fusion alone"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(str(self.path), local_files_only=True, device="cpu")
        except Exception as exc:  # any loader failure is the same problem for the user
            raise RerankerError(f"cannot load the reranker {self.path}: {exc}") from None

    def rerank(
        self, question: str, hits: list[FusedHit], top_k: int, failed: list[SourceFailure] | None = None
    ) -> list[FusedHit]:
        """The `top_k` best of `hits` by the cross-encoder, best first; ties keep the fused order.

        `failed` is never written: a local model either loads (then it scores every pair) or raises
        `RerankerError`, a configuration error to fix rather than a source to degrade."""
        if not hits:
            return []
        with self._lock:  # loading is not re-entrant, and one CPU model serves one batch at a time
            scores = self.model.predict(
                [(question, item.hit.text) for item in hits], batch_size=self.batch_size
            )
        for item, score in zip(hits, scores, strict=True):
            item.scores[RERANK] = float(score)
        order = sorted(range(len(hits)), key=lambda i: (-hits[i].scores[RERANK], i))
        return [hits[i] for i in order[:top_k]]
