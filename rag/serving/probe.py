"""One streamed chat request, timed: time to first token, tokens, tokens per second.

Separate from `rag.generate.client`, which serves answers: a benchmark needs the arrival time of
each piece and the server's own token count (`stream_options.include_usage`, which vLLM, llama.cpp,
Ollama and this project's model server honour), and must record failures instead of retrying them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from rag.common.chat import Message
from rag.config import mask_url


@dataclass(slots=True)
class Timing:
    """One request's figures; `error` says why it failed (then the figures are partial)."""

    ttft_s: float | None = None
    total_s: float = 0.0
    completion_tokens: int = 0
    text: str = ""
    error: str = ""
    #: True when the token count came from the server, False when pieces were counted instead
    counted_by_server: bool = False

    @property
    def tokens_per_s(self) -> float:
        """Decoding speed after the first token (what a reader sees the answer grow at)."""
        if self.ttft_s is None or self.completion_tokens < 2 or self.total_s <= self.ttft_s:
            return 0.0
        return (self.completion_tokens - 1) / (self.total_s - self.ttft_s)


def headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def list_models(http: httpx.Client, url: str, api_key: str = "") -> list[dict[str, Any]]:
    """The cards of `GET {url}/models`; raises httpx errors for the caller to explain."""
    response = http.get(f"{url.rstrip('/')}/models", headers=headers(api_key))
    response.raise_for_status()
    cards = response.json().get("data", [])
    return [card for card in cards if isinstance(card, dict)]


def timed_chat(
    http: httpx.Client,
    url: str,
    model: str,
    messages: list[Message],
    *,
    max_tokens: int,
    api_key: str = "",
    extras: dict[str, Any] | None = None,
) -> Timing:
    """Stream one chat completion and time it; never raises for a failed request."""
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
        **(extras or {}),
    }
    timing = Timing()
    pieces: list[str] = []
    started = time.perf_counter()
    try:
        with http.stream(
            "POST", f"{url.rstrip('/')}/chat/completions", json=body, headers=headers(api_key)
        ) as response:
            if response.status_code >= 400:
                response.read()
                timing.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return timing
            for line in response.iter_lines():
                if not line.startswith("data:") or (data := line[5:].strip()) == "[DONE]":
                    continue
                event = json.loads(data)
                if usage := event.get("usage"):
                    timing.completion_tokens = int(usage.get("completion_tokens") or 0)
                    timing.counted_by_server = True
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if piece:
                        if timing.ttft_s is None:
                            timing.ttft_s = time.perf_counter() - started
                        pieces.append(piece)
    except httpx.HTTPError as exc:
        timing.error = f"{type(exc).__name__} talking to {mask_url(url)}"
    except ValueError:
        timing.error = f"{mask_url(url)} sent a stream event that is not JSON"
    timing.total_s = time.perf_counter() - started
    timing.text = "".join(pieces)
    if not timing.counted_by_server:
        timing.completion_tokens = len(pieces)
    return timing
