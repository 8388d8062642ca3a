"""`POST /v1/query` (an answer, whole or as Server-Sent Events) and `POST /v1/retrieve` (the context).

Both take the conversation before the question as `history`; `/v1/query` also takes a stored
conversation's id instead (api/conversations.py), whose turns are the history and which gains
the new turn once the answer is whole.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, principal, readable_kb
from api.conversations import readable_conversation
from api.errors import ApiError, error_body, model_error_code
from api.metrics import Metrics
from api.schemas import QueryRequest, QueryResponse, RetrieveRequest, RetrieveResponse
from api.services import Services, services
from api.streaming import sse_response
from rag.answer.pipeline import AnswerPipeline
from rag.answer.responses import answer_json, retrieval_json, turn_json
from rag.common.chat import ModelError
from rag.models import Answer
from rag.stores.sql import Conversation

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["query"])

#: the retrievers that need no language model: the default of /v1/retrieve
NO_MODEL_RETRIEVERS = ("vector", "keyword", "graph")

Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]
#: an answer's JSON, once whatever must follow a whole answer (storing the turn) is done
Shown = Callable[[Answer], dict[str, Any]]


def _pipeline(found: Services, request: RetrieveRequest) -> AnswerPipeline:
    return found.pipeline.using(list(request.retrievers)) if request.retrievers else found.pipeline


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event; JSON data is a single line, so it needs a single `data:` field."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _conversation(caller: Principal, found: Services, request: QueryRequest) -> Conversation | None:
    """The stored conversation the request continues, if it names one; its KB is the request's,
    so a `kb` naming another is refused rather than silently ignored."""
    if request.conversation_id is None:
        return None
    conversation = readable_conversation(caller, found, request.conversation_id)
    if "kb" in request.model_fields_set and request.kb != conversation.kb:
        raise ApiError(
            422,
            "invalid_request",
            f"kb: conversation {conversation.id!r} asks {conversation.kb!r}, not {request.kb!r}",
        )
    return conversation


def _shown(found: Services, metrics: Metrics, conversation: Conversation | None) -> Shown:
    """The answer's JSON; with a conversation, the turn is stored first, so a client that has the
    answer (the `answer` event, when streaming) finds it in the conversation."""

    def shown(answer: Answer) -> dict[str, Any]:
        metrics.observe_answer(answer)
        body = answer_json(answer)
        if conversation is not None:
            if found.stores.sql.append_turn(conversation.id, **turn_json(answer)) is None:
                log.warning("event=conversation_gone id=%s: deleted while answering", conversation.id)
            body["conversation_id"] = conversation.id
        return body

    return shown


def _events(pieces: Iterator[str | Answer], shown: Shown) -> Iterator[str]:
    """`token` events with the text as it is written, then one `answer` event with the citations;
    an `error` event instead when the model fails mid-way (the status line was already sent)."""
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                yield sse("answer", shown(piece))
            else:
                yield sse("token", {"text": piece})
    except ModelError as exc:
        yield sse("error", error_body(model_error_code(exc), str(exc)))
    finally:
        pieces.close()  # a client that went away stops the generation


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream"}},
)
def query(request: QueryRequest, caller: Caller, found: Found, http: Request) -> Any:
    """Answer a question from a knowledge base, with citations; a follow-up in the conversation
    of `history` or `conversation_id`."""
    conversation = _conversation(caller, found, request)
    kb = readable_kb(caller, found, conversation.kb if conversation else request.kb)
    history = conversation.history() if conversation else request.turns()
    shown = _shown(found, http.app.state.metrics, conversation)
    pipeline = _pipeline(found, request)
    if request.stream:
        pieces = pipeline.stream(
            request.question, kb, top_k=request.top_k, filters=request.filters, history=history
        )
        return sse_response(_events(pieces, shown), headers={"X-Accel-Buffering": "no"})
    return shown(
        pipeline.ask(request.question, kb, top_k=request.top_k, filters=request.filters, history=history)
    )


@router.post("/retrieve", response_model=RetrieveResponse)
def retrieve(request: RetrieveRequest, caller: Caller, found: Found, http: Request) -> Any:
    """The fused context for a question, with each hit's retrievers, ranks and scores (no answer;
    by default without the SQL retriever, which asks the model to write a query). A follow-up in
    `history` is searched for as its standalone rewrite (`retrieval_question`)."""
    readable_kb(caller, found, request.kb)
    pipeline = found.pipeline.using(list(request.retrievers or NO_MODEL_RETRIEVERS))
    asked = pipeline.standalone(request.question, request.turns()).question
    context = pipeline.retrieve(asked, request.kb, top_k=request.top_k, filters=request.filters)
    http.app.state.metrics.observe_retrieval(context.timings_ms, context.failed)
    return retrieval_json(request.question, request.kb, context, asked)
