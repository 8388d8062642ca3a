"""Per-server request quirks of the OpenAI-compatible model servers, as data.

Each server speaks `/v1/chat/completions`, but a few switches are spelled differently. The client
looks them up here instead of branching on the server across the code. Facts, checked in the servers'
sources:
- `GET /v1/models` names the server in `owned_by` ("vllm", "sglang", "llamacpp", "lmdeploy",
  "xinference"); Ollama puts the model's namespace there, "library" for its own models.
- Qwen3 thinks before answering unless told not to; vLLM, SGLang, llama.cpp (`--jinja`) and Xinference
  pass `chat_template_kwargs` to the template, LMDeploy has its own `enable_thinking` field, and Ollama's
  `/v1` maps `reasoning_effort: "none"` to its `think: false`.
- Ollama's `/v1` has no `keep_alive` or context-size field (its request struct ignores them): set
  `OLLAMA_KEEP_ALIVE` and `OLLAMA_CONTEXT_LENGTH` where the server starts (deploy/ollama), or long
  prompts are cut at its small default context without an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: `owned_by` of `GET /v1/models` → server kind
SERVER_BY_OWNER: Mapping[str, str] = {
    "vllm": "vllm",
    "sglang": "sglang",
    "llamacpp": "llamacpp",
    "lmdeploy": "lmdeploy",
    "xinference": "xinference",
    "library": "ollama",
}

_NO_THINKING_TEMPLATE = {"chat_template_kwargs": {"enable_thinking": False}}


@dataclass(frozen=True, slots=True)
class Quirk:
    """Fields added to every chat request for a server kind ("" = unknown server) and model family."""

    server: str
    model: str  # regular expression searched in the lower-cased model name
    body: Mapping[str, Any]


QUIRKS: tuple[Quirk, ...] = (
    Quirk("vllm", r"qwen3", _NO_THINKING_TEMPLATE),
    Quirk("sglang", r"qwen3", _NO_THINKING_TEMPLATE),
    Quirk("llamacpp", r"qwen3", _NO_THINKING_TEMPLATE),
    Quirk("xinference", r"qwen3", _NO_THINKING_TEMPLATE),
    Quirk("", r"qwen3", _NO_THINKING_TEMPLATE),
    Quirk("lmdeploy", r"qwen3", {"enable_thinking": False}),
    Quirk("ollama", r"qwen3", {"reasoning_effort": "none"}),
)


def request_extras(server: str, model: str) -> dict[str, Any]:
    """The extra request fields for a model on a server kind, merged in table order."""
    extras: dict[str, Any] = {}
    for quirk in QUIRKS:
        if quirk.server == server and re.search(quirk.model, model.lower()):
            extras.update(quirk.body)
    return extras
