"""Dify's External Knowledge API, exactly as Dify calls it, so a Dify knowledge base can bind to a KB here.

`POST {endpoint}/retrieval` with `Authorization: Bearer <key>` and
`{knowledge_id, query, retrieval_setting: {top_k, score_threshold}, metadata_condition?}` answers
`{"records": [{content, score, title, metadata}]}`: scores in [0, 1], none under the threshold, at
most `top_k`, `metadata` always an object. `knowledge_id` is a KB name. Errors use Dify's shape,
`{error_code, error_msg}`: 1001 a missing or malformed Authorization header and 1002 a key that is
not accepted (both HTTP 403: Dify's registration check POSTs an empty body with the key and only
treats 403 as a refusal), 2001 an unknown knowledge base (404), 1003 a body that is not a valid
request (400, never a 5xx).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import AuthError, Principal, authenticate
from api.services import Services, services
from rag.common.markup import quoted
from rag.retrieve.fuse import relevance

#: the retrievers behind Dify's retrieval: no language model, so a Dify query costs milliseconds
DIFY_RETRIEVERS = ["vector", "keyword", "graph"]
#: with metadata conditions, this many times `top_k` candidates are fetched before filtering
FILTER_OVERFETCH = 4

Operator = Literal[
    "contains", "not contains", "start with", "end with", "is", "is not", "in", "not in",
    "empty", "not empty", "=", "≠", ">", "<", "≥", "≤", "before", "after",
]  # fmt: skip


class RetrievalSetting(BaseModel):
    top_k: int = Field(ge=1, le=100)
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)


class Condition(BaseModel):
    name: str | list[str]
    comparison_operator: Operator
    value: str | int | float | list[str] | None = None


class MetadataCondition(BaseModel):
    """Dify's model lets both fields be null (`conditions` is deprecated there): no filter then."""

    logical_operator: Literal["and", "or"] | None = "and"
    conditions: list[Condition] | None = None


class DifyRetrieval(BaseModel):
    knowledge_id: str = Field(min_length=1)
    query: str = Field(min_length=1)
    retrieval_setting: RetrievalSetting
    metadata_condition: MetadataCondition | None = None


class Record(BaseModel):
    content: str
    score: float
    title: str
    metadata: dict[str, Any]


class Records(BaseModel):
    records: list[Record]


class DifyError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def dify_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "error_msg": message}, status_code=status)


def dify_caller(request: Request, found: Annotated[Services, Depends(services)]) -> Principal:
    """Authenticated before the body is read, so a bad key is refused (403) even with no body."""
    try:
        return authenticate(found, request.headers.get("authorization"))
    except AuthError as exc:
        raise DifyError(403, 1002 if exc.kind == "invalid" else 1001, str(exc)) from None


def _date(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _compare(field: Any, operator: str, value: Any) -> bool:
    """One Dify condition on one metadata value; a value of the wrong kind does not match."""
    if operator in ("empty", "not empty"):
        empty = field is None or field == "" or field == [] or field == {}
        return empty if operator == "empty" else not empty
    if operator in ("=", "≠", ">", "<", "≥", "≤"):
        left, right = _number(field), _number(value)
        if left is None or right is None:
            return operator == "≠"
        return {"=": left == right, "≠": left != right, ">": left > right, "<": left < right,
                "≥": left >= right, "≤": left <= right}[operator]  # fmt: skip
    if operator in ("before", "after"):
        left, right = _date(field), _date(value)
        if left is None or right is None:
            return False
        return left < right if operator == "before" else left > right
    if operator in ("in", "not in"):
        choices = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        inside = str(field) in choices if field is not None else False
        return inside if operator == "in" else not inside
    text = "" if field is None else str(field)
    wanted = "" if value is None else str(value)
    if operator in ("contains", "not contains"):
        found = wanted in field if isinstance(field, list) else wanted in text
        return found if operator == "contains" else not found
    return {"start with": text.startswith(wanted), "end with": text.endswith(wanted),
            "is": text == wanted, "is not": text != wanted}[operator]  # fmt: skip


def matches(metadata: dict[str, Any], condition: MetadataCondition) -> bool:
    """Whether the metadata meets the conditions; a condition naming several fields matches any."""
    results = []
    for item in condition.conditions or []:
        names = item.name if isinstance(item.name, list) else [item.name]
        results.append(any(_compare(metadata.get(n), item.comparison_operator, item.value) for n in names))
    if not results:
        return True
    return any(results) if condition.logical_operator == "or" else all(results)


def install(app: Any, prefix: str) -> None:
    """Mount `POST /retrieval`, and `POST {prefix}/retrieval` when a prefix is set."""

    @app.exception_handler(DifyError)
    async def _dify_error(_: Request, exc: DifyError) -> JSONResponse:
        return dify_error(exc.status, exc.code, exc.message)

    router = APIRouter(tags=["dify"])
    router.add_api_route(
        "/retrieval",
        retrieval,
        methods=["POST"],
        response_model=Records,
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/DifyRetrieval"}}}}},
        responses={403: {"description": "1001/1002"}, 404: {"description": "2001"}, 400: {}},
    )  # fmt: skip
    app.include_router(router)
    if prefix:
        app.include_router(router, prefix="/" + prefix.strip("/"))
    _document_request_schema(app)


def _document_request_schema(app: Any) -> None:
    """Put `DifyRetrieval` into the OpenAPI components: the route reads its body itself (to check
    the key before the body), so FastAPI does not see the model."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        request = DifyRetrieval.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(request.pop("$defs", {}))
        components["DifyRetrieval"] = request
        return schema

    app.openapi = openapi


async def retrieval(
    request: Request,
    caller: Annotated[Principal, Depends(dify_caller)],
    found: Annotated[Services, Depends(services)],
) -> Any:
    """Dify's External Knowledge retrieval: the KB's best chunks for the query."""
    raw = await request.body()
    if not raw.strip():
        return dify_error(
            400, 1003, "the request has no body: expected {knowledge_id, query, retrieval_setting}"
        )
    try:
        body = DifyRetrieval.model_validate_json(raw)
    except ValueError as exc:
        problems = getattr(exc, "errors", lambda: [])()
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in problems) or str(exc)
        return dify_error(400, 1003, f"invalid request body: {detail}")
    kb = body.knowledge_id
    if not caller.can_read(kb) or not found.stores.sql.kb_exists(kb):
        return dify_error(404, 2001, f"knowledge base {kb!r} does not exist")
    setting = body.retrieval_setting
    # a condition listing no conditions filters nothing, so it need not fetch deeper either
    condition = (
        body.metadata_condition if body.metadata_condition and body.metadata_condition.conditions else None
    )
    depth = setting.top_k * FILTER_OVERFETCH if condition else setting.top_k
    pipeline = found.pipeline.using(DIFY_RETRIEVERS)
    context = await run_in_threadpool(pipeline.retrieve, body.query, kb, top_k=depth)
    request.app.state.metrics.observe_retrieval(context.timings_ms, context.failed)
    names = list(context.weights)
    records = []
    for item in context.hits:
        hit = item.hit
        metadata = {**hit.metadata, "source": hit.source, "file_name": Path(hit.source).name,
                    "document_id": hit.document_id, "chunk_id": hit.chunk_id,
                    "retrievers": sorted(item.ranks)}  # fmt: skip
        if condition and not matches(metadata, condition):
            continue
        score = round(relevance(item.score, context.weights, names, method=found.settings.fusion), 6)
        if score < setting.score_threshold:
            continue
        records.append(
            {
                "content": quoted(hit.text),
                "score": score,
                "title": Path(hit.source).name,
                "metadata": metadata,
            }
        )
    return {"records": records[: setting.top_k]}
