"""The embedded default: Qdrant's in-process engine (`qdrant-edge-py`), one shard folder per collection.

The engine is a library, not a server: it has no background optimizer, so `optimize()` is
what turns the appendable segment into an HNSW index, and it holds the GIL while it runs.
Every update goes to a write-ahead log first, so a process killed without `close()`
loses nothing on reopen; `close()` still flushes the segments so the next start need not
replay the log. The engine locks the log with `flock`, so a second process opening the
same shard is refused instead of corrupting it; that refusal is turned into a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy
from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    MatchAny,
    MatchValue,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    RangeFloat,
    UpdateOperation,
)

from rag.common.filters import Condition, parse
from rag.models import VectorHit, VectorPoint
from rag.stores.errors import StoreUnavailable
from rag.stores.vector.base import payload_key

#: payload fields every query filters on; keyword indexes keep those filters cheap
INDEXED_FIELDS = ("kb", "document_id")
#: points per engine call: large enough to amortise the call, small enough to bound memory
BATCH_SIZE = 256
#: the engine's words for "the WAL is locked by another open shard"
_LOCKED_MARKER = "WouldBlock"
#: the engine's words for a vector of the wrong size, which is the caller's mistake
_DIMENSION_MARKER = "Vector dimension error"


class EdgeVectorStore:
    """Chunk vectors of one embedding model in `<path>/<collection>`, cosine distance."""

    def __init__(self, path: Path, collection: str, dimension: int) -> None:
        self.folder = Path(path) / collection
        self.dimension = dimension
        self.description = f"qdrant-edge:{self.folder}"
        self._shard: EdgeShard | None = self._open()
        try:
            self._ensure_indexes()
        except BaseException:
            self.close()
            raise

    def _open(self) -> EdgeShard:
        config = EdgeConfig(vectors=EdgeVectorParams(size=self.dimension, distance=Distance.Cosine))
        exists = (self.folder / "edge_config.json").exists()
        try:
            if exists:
                return EdgeShard.load(str(self.folder), config)
            self.folder.mkdir(parents=True, exist_ok=True)
            return EdgeShard.create(str(self.folder), config)
        except Exception as exc:  # the engine raises bare Exception with a text message
            raise StoreUnavailable(self._explain(exc)) from exc

    def _explain(self, exc: Exception) -> str:
        message = str(exc)
        if _LOCKED_MARKER in message:
            return (
                f"vector store {self.folder} is open in another process "
                "(the embedded engine allows one process at a time); stop it or use its HTTP API"
            )
        if "incompatible" in message.lower():
            return (
                f"vector store {self.folder} was created for other vectors than "
                f"{self.dimension}-dim cosine ({message}); the collection name should carry the "
                "model and dimension, so check RAG_EMBED_MODEL"
            )
        return f"vector store {self.folder} cannot be opened: {message}"

    def _ensure_indexes(self) -> None:
        """Create missing payload indexes (also on reopen, in case creation was interrupted)."""
        with self._engine_errors() as shard:
            present = shard.info().payload_schema
            for field in INDEXED_FIELDS:
                if field not in present:
                    shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))

    def _require(self) -> EdgeShard:
        if self._shard is None:
            raise StoreUnavailable(f"vector store {self.folder} is closed")
        return self._shard

    @contextmanager
    def _engine_errors(self) -> Iterator[EdgeShard]:
        """Sort the engine's bare exceptions: a caller's mistake is a ValueError, the rest unavailable."""
        shard = self._require()
        try:
            yield shard
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            if _DIMENSION_MARKER in str(exc):
                raise ValueError(f"vector store {self.folder}: {exc}") from exc
            raise StoreUnavailable(f"vector store {self.folder}: {exc}") from exc

    def upsert(self, points: list[VectorPoint]) -> None:
        with self._engine_errors() as shard:
            for start in range(0, len(points), BATCH_SIZE):
                batch = [Point(p.id, p.vector, p.payload) for p in points[start : start + BATCH_SIZE]]
                shard.update(UpdateOperation.upsert_points(batch))

    def delete_documents(self, kb: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        condition = FieldCondition("document_id", match=MatchAny(list(document_ids)))
        self._delete(Filter(must=[_kb_condition(kb), condition]))

    def delete_kb(self, kb: str) -> None:
        self._delete(Filter(must=[_kb_condition(kb)]))

    def _delete(self, selector: Filter) -> None:
        with self._engine_errors() as shard:
            shard.update(UpdateOperation.delete_points_by_filter(selector))

    def search(
        self,
        vector: list[float],
        kb: str,
        top_k: int,
        filters: dict[str, Any] | None = None,
    ) -> list[VectorHit]:
        conditions = [_kb_condition(kb), *(_condition(c) for c in parse(filters).conditions)]
        request = QueryRequest(
            limit=top_k, query=Query.Nearest(vector), filter=Filter(must=conditions), with_payload=True
        )
        with self._engine_errors() as shard:
            found = shard.query(request)
        return [VectorHit(id=str(p.id), score=p.score, payload=p.payload or {}) for p in found]

    def count(self, kb: str | None = None) -> int:
        selector = None if kb is None else Filter(must=[_kb_condition(kb)])
        with self._engine_errors() as shard:
            return shard.count(CountRequest(exact=True, filter=selector))

    def optimize(self) -> None:
        """Build the HNSW index now (blocks, GIL held); flush so the work survives a restart."""
        with self._engine_errors() as shard:
            shard.optimize()
            shard.flush()

    def health(self) -> None:
        with self._engine_errors() as shard:
            shard.info()

    def close(self) -> None:
        """Flush and release the shard (and its lock); safe to call twice."""
        shard, self._shard = self._shard, None
        if shard is not None:
            try:
                shard.flush()
            finally:
                shard.close()


def _kb_condition(kb: str) -> FieldCondition:
    return FieldCondition("kb", match=MatchValue(kb))


def _condition(condition: Condition) -> FieldCondition | Filter:
    """One filter condition (see `rag.common.filters`) as payload conditions, OR-ed per JSON type."""
    key = payload_key(condition.key)
    # qdrant-edge-py 0.9 reads a Python bool as the integer 0/1, which matches no stored boolean;
    # numpy's bool is read as a boolean. A range matches a number stored as int or float alike.
    parts = [FieldCondition(key, match=MatchAny(list(condition.texts)))] if condition.texts else []
    parts += [FieldCondition(key, range=RangeFloat(gte=n, lte=n)) for n in condition.numbers]
    parts += [FieldCondition(key, match=MatchValue(numpy.bool_(flag))) for flag in condition.flags]
    if not parts:  # an empty list of values matches nothing
        return FieldCondition(key, match=MatchAny([]))
    return parts[0] if len(parts) == 1 else Filter(should=parts)
