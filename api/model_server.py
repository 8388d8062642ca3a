"""A minimal OpenAI-compatible server around the in-process Transformers model (`rag models serve`).

For a machine with no serving engine at all: the same `/v1/models` and `/v1/chat/completions`
(whole or streamed, with `usage`) that vLLM, Ollama or llama.cpp offer, so the service, `rag models
check|bench`, Dify or n8n talk to it like to any model server. It generates one request at a time
(the model is not re-entrant); use a real engine for concurrency.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from api.openai_compat import ChatMessage, ChatRequest, completion_chunk, message_text, usage
from rag.generate.base import Message, ModelError, ModelRequestError
from rag.generate.local import LocalChatModel

#: `owned_by` in `/v1/models`, so clients can tell this server from the engines of `quirks.py`
OWNER = "rag-transformers"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ModelChatRequest(ChatRequest):
    """OpenAI's chat request, `model` being the served name."""

    stream_options: StreamOptions | None = None


def _openai_error(status: int, message: str, code: str) -> JSONResponse:
    """OpenAI's error shape, which clients (the openai SDK among them) read the message from."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


def _messages(messages: list[ChatMessage]) -> list[Message]:
    """Text of each message (text parts of a multi-part one joined); other roles are dropped."""
    converted: list[Message] = []
    for message in messages:
        if message.role not in ("system", "user", "assistant") or message.content is None:
            continue
        converted.append({"role": message.role, "content": message_text(message)})  # type: ignore[typeddict-item]
    return converted


def create_model_app(model: LocalChatModel, served_name: str) -> FastAPI:
    """The app; `served_name` is the model id clients send (like vLLM's --served-model-name)."""
    app = FastAPI(title="rag model server", docs_url=None, redoc_url=None)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        card = {
            "id": served_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": OWNER,
            "max_model_len": model.context_length,
        }
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(request: ModelChatRequest) -> Any:
        if request.model != served_name:
            message = f"model {request.model!r} is not served here: {served_name!r} is"
            return _openai_error(404, message, "model_not_found")
        messages = _messages(request.messages)
        if not messages:
            return _openai_error(400, "messages: no text to answer", "invalid_messages")
        max_tokens = request.max_completion_tokens or request.max_tokens or 256
        temperature = request.temperature or 0.0
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        if request.stream:
            include_usage = bool(request.stream_options and request.stream_options.include_usage)
            pieces = model.stream(messages, max_tokens=max_tokens, temperature=temperature)
            return StreamingResponse(
                _stream(model, messages, pieces, completion_id, served_name, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        try:
            reply = model.complete(messages, max_tokens=max_tokens, temperature=temperature)
        except ModelRequestError as exc:
            return _openai_error(400, str(exc), "context_length_exceeded")
        except ModelError as exc:
            return _openai_error(500, str(exc), "model_error")
        prompt_tokens, completion_tokens = model.count_tokens(messages, reply)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "length" if completion_tokens >= max_tokens else "stop",
                }
            ],
            "usage": usage(prompt_tokens, completion_tokens),
        }

    return app


def _stream(
    model: LocalChatModel,
    messages: list[Message],
    pieces: Iterator[str],
    completion_id: str,
    served_name: str,
    include_usage: bool,
) -> Iterator[str]:
    """Role, content deltas, a finishing chunk, then usage when asked for (as OpenAI orders them)."""
    yield completion_chunk(completion_id, served_name, {"role": "assistant", "content": ""})
    reply: list[str] = []
    try:
        for piece in pieces:
            reply.append(piece)
            yield completion_chunk(completion_id, served_name, {"content": piece})
    except ModelError as exc:
        yield completion_chunk(completion_id, served_name, {}, "error", error={"message": str(exc)})
        yield "data: [DONE]\n\n"
        return
    finally:
        pieces.close()  # type: ignore[attr-defined]
    yield completion_chunk(completion_id, served_name, {}, "stop")
    if include_usage:
        prompt_tokens, completion_tokens = model.count_tokens(messages, "".join(reply))
        counted = usage(prompt_tokens, completion_tokens)
        yield completion_chunk(completion_id, served_name, None, usage=counted)
    yield "data: [DONE]\n\n"
