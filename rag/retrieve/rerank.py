"""Optional second stage: a cross-encoder reads the question with each fused chunk and reorders them.

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
from typing import Any

from rag.retrieve.fuse import FusedHit

#: the key of the reranker's score in `FusedHit.scores`
RERANK = "rerank"


class RerankerError(Exception):
    """The configured reranker cannot be loaded; the message names the folder."""


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

    def rerank(self, question: str, hits: list[FusedHit], top_k: int) -> list[FusedHit]:
        """The `top_k` best of `hits` by the cross-encoder, best first; ties keep the fused order."""
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
