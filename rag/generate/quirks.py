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
- llama.cpp serves one model and applies LoRA adapters per request: `GET /lora-adapters` (at the
  server's root) lists the loaded ones as id, path and scale, and a request's `"lora": [{"id", "scale"}]`
  sets the scales for that request alone (any adapter it leaves out runs at scale 0); a request
  without the field keeps what the one before set. vLLM, LMDeploy and SGLang serve each adapter as a
  model of its own name instead, which needs nothing here.
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


def server_kind(cards: list[dict[str, Any]]) -> str:
    """The kind of server behind `GET /v1/models`' cards, from their `owned_by` ("" when none says)."""
    owners = [card.get("owned_by") for card in cards]
    return next((SERVER_BY_OWNER[owner] for owner in owners if owner in SERVER_BY_OWNER), "")


#: server kind → the route at the server's root that lists LoRA adapters a request may select
ADAPTER_LISTS: Mapping[str, str] = {"llamacpp": "lora-adapters"}


def adapter_extras(server: str, model: str, adapters: list[dict[str, Any]]) -> dict[str, Any]:
    """The request fields that say which of a server's listed `adapters` apply: the one whose file
    stem `model` is (the name `rag finetune deploy` gives it) at scale 1, every other at 0, so the
    base's own name gets the base. Every request says so because llama.cpp otherwise keeps the
    adapters of the request before (measured with xllamacpp 2026.10), and its
    `--lora-init-without-apply` only holds until a first request applies them."""
    if server != "llamacpp":
        return {}
    chosen = []
    for adapter in adapters:
        if not isinstance(adapter, dict) or not isinstance(adapter.get("id"), int):
            continue
        path = str(adapter.get("path") or "").replace("\\", "/")
        stem = path.rsplit("/", 1)[-1].removesuffix(".gguf")
        chosen.append({"id": adapter["id"], "scale": 1.0 if stem == model else 0.0})
    return {"lora": chosen} if chosen else {}


def request_extras(server: str, model: str) -> dict[str, Any]:
    """The extra request fields for a model on a server kind, merged in table order."""
    extras: dict[str, Any] = {}
    for quirk in QUIRKS:
        if quirk.server == server and re.search(quirk.model, model.lower()):
            extras.update(quirk.body)
    return extras
