"""A chat model opened when the first reply needs it, so what needs no model works without one.

Retrieval (`rag retrieve`, `/v1/retrieve`, Dify's `/retrieval`) never generates, yet opening the
configured model at start-up (finding the packaged weights, or checking `RAG_LLM_MODEL`'s path)
made `rag serve` and `rag retrieve` exit when it was missing. This wrapper defers that step to the
first `complete` or `stream`: a model that cannot be opened fails that request with
`ModelUnavailable` (503 on the API), and is tried again on the next one, so installing the model
or fixing the setting needs no restart. `/readyz` and `rag doctor` still report it as missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rag.common.chat import ChatModel, Message, ModelUnavailable


class LazyChatModel:
    """The `ChatModel` that `open_model` returns, opened on first use (thread-safe, once)."""

    def __init__(self, open_model: Callable[[], ChatModel]) -> None:
        self._open_model = open_model
        self._model: ChatModel | None = None
        self._lock = threading.Lock()

    def opened(self) -> ChatModel:
        """The model, opened now if it was not yet; raises `ModelUnavailable` saying why it cannot be."""
        with self._lock:
            if self._model is None:
                self._model = self._open_model()
            return self._model

    def problem(self) -> str | None:
        """Why the model cannot be opened, or None when it can (`/readyz`, `rag doctor`)."""
        try:
            self.opened()
        except ModelUnavailable as exc:
            return str(exc)
        return None

    @property
    def name(self) -> str:
        return self.opened().name

    @property
    def description(self) -> str:
        try:
            return self.opened().description
        except ModelUnavailable:
            return "chat model (not available)"

    def complete(self, messages: Sequence[Message], **options: Any) -> str:
        return self.opened().complete(messages, **options)

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        return self.opened().stream(messages, **options)

    def close(self) -> None:
        with self._lock:
            if self._model is not None:
                self._model.close()
