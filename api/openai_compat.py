"""An OpenAI-compatible facade: a knowledge base answers as if it were a model.

Dify's "OpenAI-API-compatible" provider, n8n's OpenAI nodes, Open WebUI or any OpenAI SDK point
their base URL at this service and pick a model: the model id is a KB name (or `rag:<kb>`), the last
user message is the question, and the answer carries its citations twice: in the text (`[n]` and a
"Sources" list, so a chat window shows them) and in an extra `citations` field (for programs), with
`retrieval_question` beside them.

These clients keep the conversation themselves and send all of it each time, so the messages before
the question are its history: a follow-up ("and when was it founded?") is retrieved for as a
standalone question, and answered with the earlier turns in view. The "Sources" list this facade
appended to its own earlier answers is cut from them first (it is navigation, not something said);
the client's system and developer messages become instructions kept below the grounding rules.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, principal, readable_kb
from api.errors import ApiError, error_body, model_error_code
from api.services import Services, services
from api.streaming import sse_response
from rag.answer.responses import answer_json, shown_citations
from rag.common.chat import ModelError
from rag.common.markup import neutralise
from rag.models import Answer, Turn

router = APIRouter(prefix="/v1", tags=["openai"])
#: the prefix that marks a model id as a KB name, for clients that want the namespace explicit
MODEL_PREFIX = "rag:"
#: what starts the list of sources `sources_text` appends to an answer's text
SOURCES_HEADING = "\n\nSources:\n"
#: roles whose messages instruct rather than converse (OpenAI's newer models call it "developer")
INSTRUCTION_ROLES = ("system", "developer")

Caller = Annotated[Principal, Depends(principal)]
Found = Annotated[Services, Depends(services)]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat request; fields of no use here (tools, n, seed…) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, description="A KB name, or rag:<kb>")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


def kb_of(model: str) -> str:
    return model.removeprefix(MODEL_PREFIX)


def message_text(message: ChatMessage) -> str:
    """A message's text: its content, or the text parts of a multi-part one joined."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    return "\n".join(part.text for part in message.content if part.type == "text" and part.text)


def without_sources(text: str) -> str:
    """An answer of this facade without the "Sources" list it appended (`sources_text`)."""
    answer, heading, _ = text.rpartition(SOURCES_HEADING)
    return answer if heading else text


@dataclass(frozen=True, slots=True)
class Asked:
    """What a chat request asks: the question, the turns before it, the client's instructions."""

    question: str
    history: list[Turn]
    instructions: str


def conversation_of(messages: list[ChatMessage]) -> Asked:
    """The last user message with text is the question; the user and assistant messages with text
    before it are the history; every system and developer message is an instruction. Tool
    messages, and an assistant's tool calls without text, say nothing the answer prompt can use."""
    texts = [message_text(message).strip() for message in messages]
    asked = [i for i, message in enumerate(messages) if message.role == "user" and texts[i]]
    if not asked:
        raise ApiError(422, "invalid_request", "messages: no user message with text to answer")
    last = asked[-1]
    history: list[Turn] = []
    for message, text in zip(messages[:last], texts[:last], strict=True):
        said = without_sources(message_text(message)).strip() if message.role == "assistant" else text
        if message.role in ("user", "assistant") and said:
            history.append(Turn(message.role, said))
    instructions = [
        text for message, text in zip(messages, texts, strict=True) if message.role in INSTRUCTION_ROLES
    ]
    return Asked(texts[last], history, "\n\n".join(text for text in instructions if text))


def sources_text(answer: Answer) -> str:
    """The "Sources" list appended to the text: the cited sources, or every source given when none was."""
    shown = shown_citations(answer)
    if not shown:
        return ""
    # the SQL is the model's own writing: its string literals get no URL shown
    lines = [f"[{c.n}] {neutralise(c.sql) if c.sql else Path(c.source).name}" for c in shown]
    return SOURCES_HEADING + "\n".join(lines)


@router.get("/models")
def list_models(caller: Caller, found: Found) -> dict[str, Any]:
    """The KBs this key may read, each twice: as `<kb>` and as `rag:<kb>`."""
    names = [kb.name for kb in found.stores.sql.list_kbs() if caller.can_read(kb.name)]
    created = int(time.time())
    cards = [
        {"id": model_id, "object": "model", "created": created, "owned_by": "rag-local"}
        for name in names
        for model_id in (name, MODEL_PREFIX + name)
    ]
    return {"object": "list", "data": cards}


def completion_chunk(
    completion_id: str, model: str, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any
) -> str:
    """One server-sent event of OpenAI's streamed chat completion (also used by `api.model_server`);
    `delta` None makes the choice-less chunk that carries only `usage`."""
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False, default=str)}\n\n"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI's `usage` object (also used by `api.model_server`)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _rag_fields(answer: Answer) -> dict[str, Any]:
    """The fields beside OpenAI's own: the citations, and what retrieval searched for."""
    shown = answer_json(answer)
    return {"citations": shown["citations"], "retrieval_question": shown["retrieval_question"]}


def _stream(pieces: Iterator[str | Answer], completion_id: str, model: str, http: Request) -> Iterator[str]:
    yield completion_chunk(completion_id, model, {"role": "assistant", "content": ""})
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                http.app.state.metrics.observe_answer(piece)
                if sources := sources_text(piece):
                    yield completion_chunk(completion_id, model, {"content": sources})
                extra = {
                    "usage": usage(piece.prompt_tokens, piece.completion_tokens),
                    **_rag_fields(piece),
                }
                yield completion_chunk(completion_id, model, {}, "stop", **extra)
            else:
                yield completion_chunk(completion_id, model, {"content": piece})
    except ModelError as exc:
        yield f"data: {json.dumps(error_body(model_error_code(exc), str(exc)))}\n\n"
    finally:
        pieces.close()
    yield "data: [DONE]\n\n"


@router.post("/chat/completions")
def chat_completions(request: ChatRequest, caller: Caller, found: Found, http: Request) -> Any:
    """Answer the last user message with RAG over the KB named by `model`, the messages before it
    as the conversation."""
    kb = readable_kb(caller, found, kb_of(request.model))
    asked = conversation_of(request.messages)
    pieces = found.pipeline.stream(
        asked.question,
        kb,
        max_tokens=request.max_completion_tokens or request.max_tokens,
        temperature=request.temperature or 0.0,
        history=asked.history,
        instructions=asked.instructions,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if request.stream:
        return sse_response(
            _stream(pieces, completion_id, request.model, http), headers={"X-Accel-Buffering": "no"}
        )
    answer = next(piece for piece in pieces if isinstance(piece, Answer))
    http.app.state.metrics.observe_answer(answer)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer + sources_text(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": usage(answer.prompt_tokens, answer.completion_tokens),
        **_rag_fields(answer),
    }
