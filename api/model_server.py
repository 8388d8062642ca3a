"""A minimal OpenAI-compatible server around the in-process Transformers model (`rag models serve`),
or any `ServableChatModel`.

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
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from api.openai_compat import ChatMessage, ChatRequest, completion_chunk, message_text, usage
from api.streaming import sse_response
from api.tool_calls import ToolCall, offered_names, parse_tool_calls, template_message
from rag.common.chat import ModelError, ModelRequestError, ServableChatModel

#: `owned_by` in `/v1/models`, so clients can tell this server from the engines of `quirks.py`
OWNER = "rag-transformers"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ModelChatRequest(ChatRequest):
    """OpenAI's chat request, `model` being the served name; `tools` are offered to the model."""

    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


def _openai_error(status: int, message: str, code: str) -> JSONResponse:
    """OpenAI's error shape, which clients (the openai SDK among them) read the message from."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


#: roles the chat templates know; `developer` is OpenAI's newer name for `system`
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Each message as the chat template takes it: its text (text parts of a multi-part one
    joined), an assistant's tool calls, a tool result's call id; messages of other roles, or with
    neither text nor calls, are dropped."""
    converted: list[dict[str, Any]] = []
    for message in messages:
        role = _ROLES.get(message.role)
        fields = message.model_dump(exclude_none=True)
        if role is None or (message.content is None and not fields.get("tool_calls")):
            continue
        converted.append(template_message({**fields, "role": role, "content": message_text(message)}))
    return converted


def _reply_message(reply: str, calls: list[ToolCall]) -> dict[str, Any]:
    if not calls:
        return {"role": "assistant", "content": reply}
    return {"role": "assistant", "content": reply or None, "tool_calls": [call.openai() for call in calls]}


def create_model_app(model: ServableChatModel, served_name: str) -> FastAPI:
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
        # `tool_choice: "none"` forbids calls: the model then answers in text, without the tools
        tools = None if request.tool_choice == "none" else request.tools or None
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        if request.stream and not tools:
            pieces = model.stream(messages, max_tokens=max_tokens, temperature=temperature)
            return sse_response(_stream(model, messages, pieces, completion_id, served_name, include_usage))
        try:
            reply = model.complete(messages, max_tokens=max_tokens, temperature=temperature, tools=tools)
        except ModelRequestError as exc:
            return _openai_error(400, str(exc), "context_length_exceeded")
        except ModelError as exc:
            return _openai_error(500, str(exc), "model_error")
        prompt_tokens, completion_tokens = model.count_tokens(messages, reply, tools)
        text, calls = parse_tool_calls(reply, offered_names(tools)) if tools else (reply, [])
        finish = "tool_calls" if calls else "length" if completion_tokens >= max_tokens else "stop"
        counted = usage(prompt_tokens, completion_tokens)
        if request.stream:  # with tools: the whole reply is needed to tell a call from text
            events = _whole_reply_stream(
                text, calls, finish, completion_id, served_name, counted, include_usage
            )
            return sse_response(events)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served_name,
            "choices": [{"index": 0, "message": _reply_message(text, calls), "finish_reason": finish}],
            "usage": counted,
        }

    return app


def _whole_reply_stream(
    text: str,
    calls: list[ToolCall],
    finish: str,
    completion_id: str,
    served_name: str,
    counted: dict[str, int],
    include_usage: bool,
) -> Iterator[str]:
    """A finished reply as OpenAI streams one: role, text, each call whole, finish, usage."""
    yield completion_chunk(completion_id, served_name, {"role": "assistant", "content": ""})
    if text:
        yield completion_chunk(completion_id, served_name, {"content": text})
    if calls:
        deltas = [call.openai(index) for index, call in enumerate(calls)]
        yield completion_chunk(completion_id, served_name, {"tool_calls": deltas})
    yield completion_chunk(completion_id, served_name, {}, finish)
    if include_usage:
        yield completion_chunk(completion_id, served_name, None, usage=counted)
    yield "data: [DONE]\n\n"


def _stream(
    model: ServableChatModel,
    messages: list[dict[str, Any]],
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
