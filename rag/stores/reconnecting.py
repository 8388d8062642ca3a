"""A server store that `rag serve` can start without, and that joins once its server answers.

A service whose Qdrant or Neo4j is down (restarting, not yet up in a compose or Kubernetes start
order, or hung) used to exit at start-up, taking the relational store's keyword retrieval, the
other store and every health check down with it. Served, such a store is opened on its first use
instead, and again after each failure: until it opens, each call raises `StoreUnavailable` naming
the store (fusion names that retriever as failed and answers from the others; `/readyz` names it
as down); once it opens, it is the store itself. Only one thread tries at a time, and at most once
per `retry_s`: a hung server costs one caller its connect timeout, not every request.
`rag ingest` does not use this: a store it cannot write to stops it at once (`open_stores`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rag.stores.errors import StoreUnavailable

#: seconds between two attempts to open a store whose server did not answer
RETRY_S = 5.0


class ReconnectingStore:
    """Stands for the store `open_store` opens; every attribute but `description` is the store's."""

    def __init__(
        self, open_store: Callable[[], Any], description: str, first_error: str, retry_s: float = RETRY_S
    ) -> None:
        self._open_store = open_store
        self._store: Any = None
        self._error = first_error
        self._tried_at = time.monotonic()
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self.description = description

    def _opened(self) -> Any:
        if self._store is not None:
            return self._store
        due = time.monotonic() - self._tried_at >= self._retry_s
        if not due or not self._lock.acquire(blocking=False):  # another thread is trying now
            raise StoreUnavailable(self._error)
        try:
            if self._store is None:
                self._tried_at = time.monotonic()
                try:
                    self._store = self._open_store()
                except StoreUnavailable as exc:
                    self._error = str(exc)
                    raise
            return self._store
        finally:
            self._lock.release()

    def health(self) -> None:
        self._opened().health()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __getattr__(self, name: str) -> Any:
        # only reached for what this class does not define: the store's own operations
        return getattr(self._opened(), name)


def open_or_reconnect(open_store: Callable[[], Any], description: str, retry_s: float = RETRY_S) -> Any:
    """The store `open_store` opens now, or a `ReconnectingStore` that will when it can."""
    try:
        return open_store()
    except StoreUnavailable as exc:
        return ReconnectingStore(open_store, description, str(exc), retry_s)
