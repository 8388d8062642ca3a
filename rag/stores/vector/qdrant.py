"""The production backend: a Qdrant server over HTTP through `qdrant-client`.

The same class also drives the client's local mode (`local=True`), which speaks the same
Python API without a server; the tests use it to exercise this code path here. Every
failure to reach the server becomes StoreUnavailable naming the URL with secrets masked,
so a request handler can say which store failed instead of leaking a library traceback.

On a distributed Qdrant the collection is created with the cluster's shape (`QdrantCluster`:
shards, replicas, the replicas a write must reach), every write waits for that acknowledgement
(`wait=True`), and the KB is the tenant key of the payload index (`is_tenant`), so Qdrant keeps
each KB's points together and a KB-filtered search reads only that KB's segments.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from rag.common.filters import Condition, parse
from rag.config import mask_url
from rag.models import VectorHit, VectorPoint
from rag.stores.errors import StoreUnavailable
from rag.stores.vector.base import QdrantCluster, payload_key

log = logging.getLogger(__name__)

#: payload fields every query filters on, with their indexes: the KB is the tenant key
INDEXES = {
    "kb": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    "document_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD),
}
#: points per request: well under the server's 32 MiB request limit at 1024 dims
BATCH_SIZE = 256


class QdrantVectorStore:
    """Chunk vectors of one embedding model in one Qdrant collection, cosine distance.

    `url` is `http(s)://host:port`; with `local=True` it is instead a folder or ":memory:"
    for the client's local mode (no server, same API).
    """

    def __init__(
        self,
        url: str,
        collection: str,
        dimension: int,
        api_key: str | None = None,
        timeout: float = 10.0,
        *,
        local: bool = False,
        cluster: QdrantCluster | None = None,
    ) -> None:
        self.collection = collection
        self.dimension = dimension
        self.cluster = cluster or QdrantCluster()
        self._local = local
        self.description = f"qdrant-local:{url}" if local else f"qdrant:{mask_url(url)}"
        if local:
            client = QdrantClient(location=url) if url == ":memory:" else QdrantClient(path=url)
        else:
            # the client rounds the timeout up to whole seconds; skip its version probe, our
            # first call below reports an unreachable server better
            client = QdrantClient(
                url=url, api_key=api_key, timeout=math.ceil(timeout), check_compatibility=False
            )
        self._client: QdrantClient | None = client
        try:
            self._ensure_collection()
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _server_errors(self) -> Iterator[QdrantClient]:
        """Map transport and HTTP failures to StoreUnavailable (or ValueError for a bad request)."""
        if self._client is None:
            raise StoreUnavailable(f"vector store {self.description} is closed")
        try:
            yield self._client
        except UnexpectedResponse as exc:
            if exc.status_code == 400:
                raise ValueError(f"vector store {self.description} rejected the request: {exc}") from None
            hint = " (check RAG_VECTOR_API_KEY)" if exc.status_code in (401, 403) else ""
            raise StoreUnavailable(
                f"vector store {self.description} answered HTTP {exc.status_code} {exc.reason_phrase}{hint}"
            ) from None
        except (ResponseHandlingException, httpx.HTTPError, OSError) as exc:
            cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
            raise StoreUnavailable(
                f"vector store {self.description} is unreachable: {type(cause).__name__}: {cause}"
            ) from None

    def _ensure_collection(self) -> None:
        """Create the collection and its payload indexes if missing; refuse one of another shape."""
        with self._server_errors() as client:
            if not client.collection_exists(self.collection):
                client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dimension, distance=models.Distance.COSINE),
                    shard_number=self.cluster.shards,
                    replication_factor=self.cluster.replicas,
                    write_consistency_factor=self.cluster.write_consistency,
                )
            info = client.get_collection(self.collection)
            vectors = info.config.params.vectors
            if not (
                isinstance(vectors, models.VectorParams)
                and vectors.size == self.dimension
                and vectors.distance == models.Distance.COSINE
            ):
                raise StoreUnavailable(
                    f"collection {self.collection!r} in {self.description} holds other vectors "
                    f"({vectors}) than {self.dimension}-dim cosine; the collection name should "
                    "carry the model and dimension, so check RAG_EMBED_MODEL"
                )
            if not self._local:  # local mode has neither shards nor replicas
                self._reconcile_cluster(client, info.config.params)
            for field, params in INDEXES.items():
                held = info.payload_schema.get(field)
                if held is None:
                    client.create_payload_index(self.collection, field, params, wait=True)
                elif getattr(held.params, "is_tenant", None) != params.is_tenant:
                    # a collection from before the tenant index: rebuilt in the background, as a
                    # large one would outlast the request's timeout
                    client.create_payload_index(self.collection, field, params, wait=False)

    def _reconcile_cluster(self, client: QdrantClient, params: models.CollectionParams) -> None:
        """Bring an existing collection's write consistency to the setting (Qdrant changes it in
        place); a different shard count or replication factor is only reported: Qdrant keeps the
        shards, and a higher replication factor makes no copy of the shards already there (the
        cluster API's `replicate_shard` does)."""
        if params.write_consistency_factor != self.cluster.write_consistency:
            diff = models.CollectionParamsDiff(write_consistency_factor=self.cluster.write_consistency)
            client.update_collection(self.collection, collection_params=diff)
            log.info(
                "event=vector_collection_updated collection=%s write_consistency_factor=%s",
                self.collection,
                self.cluster.write_consistency,
            )
        held = (params.shard_number, params.replication_factor)
        if held != (self.cluster.shards, self.cluster.replicas):
            log.warning(
                "event=vector_cluster_differs collection=%s shards=%s replicas=%s RAG_VECTOR_SHARDS=%s "
                "RAG_VECTOR_REPLICAS=%s: an existing collection keeps its shards and copies (Qdrant's "
                "replicate_shard adds copies); a new collection (another embedding model) gets the settings",
                self.collection,
                *held,
                self.cluster.shards,
                self.cluster.replicas,
            )

    def upsert(self, points: list[VectorPoint]) -> None:
        with self._server_errors() as client:
            for start in range(0, len(points), BATCH_SIZE):
                batch = [
                    models.PointStruct(id=p.id, vector=p.vector, payload=p.payload)
                    for p in points[start : start + BATCH_SIZE]
                ]
                client.upsert(self.collection, batch, wait=True)

    def delete_documents(self, kb: str, document_ids: list[str]) -> None:
        if not document_ids:
            return
        condition = models.FieldCondition(key="document_id", match=models.MatchAny(any=list(document_ids)))
        self._delete(models.Filter(must=[_kb_condition(kb), condition]))

    def delete_kb(self, kb: str) -> None:
        self._delete(models.Filter(must=[_kb_condition(kb)]))

    def _delete(self, selector: models.Filter) -> None:
        with self._server_errors() as client:
            client.delete(self.collection, models.FilterSelector(filter=selector), wait=True)

    def search(
        self,
        vector: list[float],
        kb: str,
        top_k: int,
        filters: dict[str, Any] | None = None,
    ) -> list[VectorHit]:
        conditions = [_kb_condition(kb), *(_condition(c) for c in parse(filters).conditions)]
        with self._server_errors() as client:
            found = client.query_points(
                self.collection,
                query=vector,
                query_filter=models.Filter(must=conditions),
                limit=top_k,
                with_payload=True,
            ).points
        return [VectorHit(id=str(p.id), score=p.score, payload=p.payload or {}) for p in found]

    def count(self, kb: str | None = None) -> int:
        selector = None if kb is None else models.Filter(must=[_kb_condition(kb)])
        with self._server_errors() as client:
            return client.count(self.collection, count_filter=selector, exact=True).count

    def optimize(self) -> None:
        """Nothing to do: the server builds its indexes in the background."""

    def health(self) -> None:
        with self._server_errors() as client:
            if not client.collection_exists(self.collection):
                raise StoreUnavailable(f"collection {self.collection!r} is missing in {self.description}")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _kb_condition(kb: str) -> models.FieldCondition:
    return models.FieldCondition(key="kb", match=models.MatchValue(value=kb))


def _condition(condition: Condition) -> models.Condition:
    """One filter condition (see `rag.common.filters`) as payload conditions, OR-ed per JSON type;
    a range matches a number stored as int or float alike."""
    key = payload_key(condition.key)
    parts: list[models.Condition] = []
    if condition.texts:
        parts.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(condition.texts))))
    parts += [models.FieldCondition(key=key, range=models.Range(gte=n, lte=n)) for n in condition.numbers]
    parts += [models.FieldCondition(key=key, match=models.MatchValue(value=f)) for f in condition.flags]
    if not parts:  # an empty list of values matches nothing
        return models.FieldCondition(key=key, match=models.MatchAny(any=[]))
    return parts[0] if len(parts) == 1 else models.Filter(should=parts)
