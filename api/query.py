"""`POST /v1/query` (an answer, whole or as Server-Sent Events) and `POST /v1/retrieve` (the context)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from api.auth import Principal, principal, readable_kb
from api.errors import error_body
from api.metrics import Metrics
from api.schemas import QueryRequest, QueryResponse, RetrieveRequest, RetrieveResponse
from api.services import Services, services
from rag.answer.pipeline import AnswerPipeline
from rag.answer.responses import answer_json, retrieval_json
from rag.common.chat import ModelError
from rag.models import Answer

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["query"])

#: the retrievers that need no language model: the default of /v1/retrieve
NO_MODEL_RETRIEVERS = ("vector", "keyword", "graph")

Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


def _pipeline(found: Services, request: RetrieveRequest) -> AnswerPipeline:
    return found.pipeline.using(list(request.retrievers)) if request.retrievers else found.pipeline


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event; JSON data is a single line, so it needs a single `data:` field."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _events(pipeline: AnswerPipeline, request: QueryRequest, metrics: Metrics) -> Iterator[str]:
    """`token` events with the text as it is written, then one `answer` event with the citations;
    an `error` event instead when the model fails mid-way (the status line was already sent)."""
    pieces = pipeline.stream(request.question, request.kb, top_k=request.top_k, filters=request.filters)
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                metrics.observe_answer(piece)
                yield sse("answer", answer_json(piece))
            else:
                yield sse("token", {"text": piece})
    except ModelError as exc:
        yield sse("error", error_body("model_error", str(exc)))
    finally:
        pieces.close()  # a client that went away stops the generation


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream"}},
)
def query(request: QueryRequest, caller: Caller, found: Found, http: Request) -> Any:
    """Answer a question from a knowledge base, with citations."""
    readable_kb(caller, found, request.kb)
    pipeline = _pipeline(found, request)
    metrics: Metrics = http.app.state.metrics
    if request.stream:
        return StreamingResponse(
            _events(pipeline, request, metrics),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = pipeline.ask(request.question, request.kb, top_k=request.top_k, filters=request.filters)
    metrics.observe_answer(answer)
    return answer_json(answer)


@router.post("/retrieve", response_model=RetrieveResponse)
def retrieve(request: RetrieveRequest, caller: Caller, found: Found, http: Request) -> Any:
    """The fused context for a question, with each hit's retrievers, ranks and scores (no answer;
    by default without the SQL retriever, which asks the model to write a query)."""
    readable_kb(caller, found, request.kb)
    pipeline = found.pipeline.using(list(request.retrievers or NO_MODEL_RETRIEVERS))
    context = pipeline.retrieve(request.question, request.kb, top_k=request.top_k, filters=request.filters)
    http.app.state.metrics.observe_retrieval(context.timings_ms, context.failed)
    return retrieval_json(request.question, request.kb, context)
