"""OpenAI tool calling for the in-process model server: tools in, `tool_calls` out.

Agents (n8n's AI Agent, LangChain, the openai SDK's tool loop) send `tools` and expect the reply to
be either text or `tool_calls`, then send the tools' results back as `tool` messages. Models trained
for tools (Qwen2.5 and later among them) take the tool list through their chat template and answer
with `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks, as vLLM's `hermes` parser and
llama.cpp read them; this module turns the OpenAI messages into what such a template expects and
the blocks back into OpenAI's `tool_calls`. A model whose template has no tools section never sees
the tools and answers in text.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
#: a model that stops right after its call, before the closing tag (a token limit, a stop word)
_UNCLOSED = re.compile(r"<tool_call>\s*(\{.*\})\s*$", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool the request offered, with its arguments as OpenAI sends them: JSON text."""

    id: str
    name: str
    arguments: str

    def openai(self, index: int | None = None) -> dict[str, Any]:
        call: dict[str, Any] = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        return call if index is None else {"index": index, **call}


def template_message(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI message as chat templates take it: an assistant's calls with their arguments as
    objects (templates render them with `tojson`, which would quote a JSON string again), a tool's
    result as its text."""
    converted = {key: value for key, value in message.items() if value is not None}
    calls = converted.get("tool_calls")
    if calls:
        converted["tool_calls"] = [_template_call(call) for call in calls]
    return converted


def _template_call(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # text that is not JSON stays as the client sent it; the template shows it as is
        with contextlib.suppress(json.JSONDecodeError):
            function["arguments"] = json.loads(arguments) if arguments.strip() else {}
    return {**call, "function": function}


def parse_tool_calls(reply: str, offered: set[str]) -> tuple[str, list[ToolCall]]:
    """The reply's text outside tool-call blocks, and the calls of offered tools in it.

    A block naming a tool that was not offered, or whose JSON does not parse, stays in the text:
    the client sees what the model wrote instead of a call it cannot run.
    """
    blocks = list(_BLOCK.finditer(reply)) or list(_UNCLOSED.finditer(reply))
    if not blocks:
        return _bare_calls(reply, offered)
    calls: list[ToolCall] = []
    kept: list[str] = []
    position = 0
    for block in blocks:
        call = _call(block.group(1), offered)
        if call is None:
            continue
        kept.append(reply[position : block.start()])
        position = block.end()
        calls.append(call)
    kept.append(reply[position:])
    return "".join(kept).strip(), calls


def _bare_calls(reply: str, offered: set[str]) -> tuple[str, list[ToolCall]]:
    """Calls written without their tags: a tokenizer that counts `<tool_call>` as a special token
    drops it from the decoded text (Qwen's, converted from GGUF), leaving one JSON object per call,
    each on its own line. Anything else in the reply makes it text."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if len(lines) > 1 and _cut_off(lines[-1]):  # the token limit ended the reply inside a call
        lines = lines[:-1]
    calls = [_call(line, offered) for line in lines]
    if len(lines) > 1 and None in calls:  # maybe one object over several lines
        calls = [_call(reply, offered)]
    found = [call for call in calls if call is not None]
    if not found or len(found) < len(calls):
        return reply.strip(), []
    return "", _distinct(found)


def _cut_off(line: str) -> bool:
    """A JSON object that was begun and not finished."""
    if not line.lstrip().startswith("{"):
        return False
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return False


def _distinct(calls: list[ToolCall]) -> list[ToolCall]:
    """Calls without repeats: small models write the same call several times in a row."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for call in calls:
        if (call.name, call.arguments) not in seen:
            seen.add((call.name, call.arguments))
            kept.append(call)
    return kept


def _json(text: str) -> Any:
    """The decoded JSON, or None for text that is not JSON (callers want an object either way)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _call(text: str, offered: set[str]) -> ToolCall | None:
    decoded = _json(text)
    if not isinstance(decoded, dict):
        return None
    name = decoded.get("name")
    if not isinstance(name, str) or name not in offered:
        return None
    arguments = decoded.get("arguments", decoded.get("parameters")) or {}
    if isinstance(arguments, str):  # clients json.loads the arguments: they must be a JSON object
        arguments = _json(arguments)
    if not isinstance(arguments, dict):
        return None
    text = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=text)


def offered_names(tools: list[dict[str, Any]] | None) -> set[str]:
    """The function names in a request's `tools`."""
    return {
        str(tool["function"]["name"])
        for tool in tools or []
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict) and tool["function"].get("name")
    }
