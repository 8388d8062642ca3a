"""`rag models check`: is the model server usable for RAG, and if not, what to change.

Lists the served models, checks the configured name against them, compares the context window the
server reports with the prompt budget the settings allow, sends one whole and one streamed chat
completion (with the same per-server switches the service sends), and times them. Each problem comes
with its fix: unreachable, refused key, wrong model name, window shorter than the prompt budget,
thinking output leaking into answers, a request the server refuses.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from rag.common.chat import Message
from rag.config import Settings, mask_url
from rag.generate.quirks import SERVER_BY_OWNER, request_extras
from rag.serving.probe import Timing, headers, list_models, timed_chat

#: the answer prompt's instructions, question and chat template around the retrieved context
PROMPT_OVERHEAD_TOKENS = 300
#: what a model writes when it thinks aloud before answering (Qwen3, DeepSeek-R1 and their kin)
_THINKING = re.compile(r"<think>|</think>", re.IGNORECASE)
PROBE: list[Message] = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
#: where each server sets the name clients send and its context window
_NAME_FLAG = "vLLM --served-model-name, llama.cpp --alias, LMDeploy --model-name, Xinference --model-uid"
_WINDOW_FLAG = "vLLM --max-model-len, llama.cpp --ctx-size, LMDeploy --session-len, Ollama num_ctx"


@dataclass(slots=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""


@dataclass(slots=True)
class ModelCheck:
    url: str
    model: str
    served: list[str] = field(default_factory=list)
    server: str = ""
    context_length: int | None = None
    needed_context: int = 0
    whole_s: float | None = None
    stream: Timing | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "model": self.model,
            "ok": self.ok,
            "served": self.served,
            "server": self.server or None,
            "context_length": self.context_length,
            "needed_context": self.needed_context,
            "whole_reply_s": _rounded(self.whole_s),
            "ttft_s": _rounded(self.stream.ttft_s) if self.stream else None,
            "tokens_per_s": _rounded(self.stream.tokens_per_s) if self.stream else None,
            "findings": [{"ok": f.ok, "what": f.what, "fix": f.fix} for f in self.findings],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def leaks_thinking(text: str) -> bool:
    """Whether a reply carries a reasoning block that would end up in the answer."""
    return bool(_THINKING.search(text))


def needed_context(settings: Settings) -> int:
    """The longest prompt plus answer the settings can produce, in tokens."""
    budget = settings.context_tokens + settings.table_tokens + settings.facts_tokens
    return budget + settings.answer_max_tokens + PROMPT_OVERHEAD_TOKENS


def context_length(card: dict[str, Any]) -> int | None:
    """The window a model card reports: vLLM and this project's server say `max_model_len`,
    llama.cpp's servers `meta.n_ctx` or `meta.n_ctx_train`; Ollama says nothing."""
    meta = card.get("meta") if isinstance(card.get("meta"), dict) else {}
    for value in (
        card.get("max_model_len"),
        card.get("context_length"),
        meta.get("n_ctx"),
        meta.get("n_ctx_train"),
    ):
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_model(settings: Settings, url: str, model: str, api_key: str, timeout_s: float) -> ModelCheck:
    """Run every check against the server at `url` (ending in /v1) for `model` ("" = the only one)."""
    report = ModelCheck(mask_url(url), model, needed_context=needed_context(settings))
    with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))) as http:
        cards = _models(http, report, url, api_key)
        if cards is None:
            return report
        card = next((c for c in cards if c.get("id") == report.model), None)
        if card is None:
            return report
        report.server = SERVER_BY_OWNER.get(str(card.get("owned_by")), "")
        _check_window(report, card)
        extras = request_extras(report.server, report.model)
        _check_whole_reply(http, report, url, api_key, extras)
        report.stream = timed_chat(
            http, url, report.model, PROBE, max_tokens=32, api_key=api_key, extras=extras
        )
        if report.stream.error:
            report.findings.append(
                Finding(
                    False,
                    f"streamed reply failed: {report.stream.error}",
                    "check the server's log; the service streams every answer",
                )
            )
        else:
            report.findings.append(
                Finding(
                    True,
                    f"streamed reply: first token after {report.stream.ttft_s or 0:.2f} s, "
                    f"{report.stream.tokens_per_s:.1f} tokens/s",
                )
            )
    return report


def _models(http: httpx.Client, report: ModelCheck, url: str, api_key: str) -> list[dict[str, Any]] | None:
    """The model cards, with findings on reachability and the model name; None when unusable."""
    listing = f"GET {mask_url(url.rstrip('/'))}/models"
    try:
        cards = list_models(http, url, api_key)
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        fix = (
            "set RAG_LLM_API_KEY to a key the server accepts"
            if status in (401, 403)
            else ("is the URL right? It must be the OpenAI-compatible base, ending in /v1")
        )
        report.findings.append(Finding(False, f"{listing} answered HTTP {status}", fix))
        return None
    except (httpx.HTTPError, ValueError) as exc:
        report.findings.append(
            Finding(
                False,
                f"{listing} failed: {type(exc).__name__}",
                "start the model server (deploy/<server>/launch.sh) or fix RAG_LLM_URL (it must end in /v1)",
            )
        )
        return None
    report.served = [str(card.get("id")) for card in cards]
    if not report.model and len(report.served) == 1:
        report.model = report.served[0]
    if report.model in report.served:
        report.findings.append(Finding(True, f"{listing}: serves {', '.join(report.served)}"))
        return cards
    named = f"{report.model!r} is not among them" if report.model else "no model named and several served"
    report.findings.append(
        Finding(
            False,
            f"{listing}: serves {', '.join(report.served) or 'nothing'}; {named}",
            f"set RAG_LLM_MODEL to one of them, or start the server with that name ({_NAME_FLAG})",
        )
    )
    return None


def _check_window(report: ModelCheck, card: dict[str, Any]) -> None:
    report.context_length = context_length(card)
    needed = report.needed_context
    if report.context_length is None:
        report.findings.append(
            Finding(
                True,
                f"the server does not report its context window; make sure it is at least {needed} tokens",
                "Ollama: PARAMETER num_ctx in the Modelfile or OLLAMA_CONTEXT_LENGTH (deploy/ollama)",
            )
        )
    elif report.context_length < needed:
        report.findings.append(
            Finding(
                False,
                f"context window {report.context_length} tokens < {needed} the prompt budget needs "
                "(RAG_CONTEXT_TOKENS + RAG_TABLE_TOKENS + RAG_FACTS_TOKENS + RAG_ANSWER_MAX_TOKENS "
                f"+ {PROMPT_OVERHEAD_TOKENS})",
                f"raise the window ({_WINDOW_FLAG}) or lower those settings; long prompts would be "
                "refused or cut",
            )
        )
    else:
        report.findings.append(
            Finding(True, f"context window {report.context_length} tokens ≥ {needed} the prompt budget needs")
        )


def _check_whole_reply(
    http: httpx.Client, report: ModelCheck, url: str, api_key: str, extras: dict[str, Any]
) -> None:
    body = {"model": report.model, "messages": PROBE, "max_tokens": 64, "temperature": 0.0, **extras}
    started = time.perf_counter()
    try:
        response = http.post(f"{url.rstrip('/')}/chat/completions", json=body, headers=headers(api_key))
        report.whole_s = time.perf_counter() - started
        response.raise_for_status()
        text = response.json()["choices"][0]["message"].get("content") or ""
    except httpx.HTTPStatusError as exc:
        detail = exc.response.text[:200]
        report.findings.append(
            Finding(
                False,
                f"chat completion answered HTTP {exc.response.status_code}: {detail}",
                "check the model name and the server's log",
            )
        )
        return
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        report.findings.append(
            Finding(False, f"chat completion failed: {type(exc).__name__}", "check the server's log")
        )
        return
    if leaks_thinking(text):
        report.findings.append(
            Finding(
                False,
                "the reply contains thinking (<think>…</think>): it would leak into answers",
                "turn thinking off for this model: add it to rag/generate/quirks.py, or start the server "
                "with a chat template that disables it (Qwen3: enable_thinking=false)",
            )
        )
    elif not text.strip():
        report.findings.append(
            Finding(
                False,
                "the chat completion came back empty",
                "check the model's chat template and the server's log",
            )
        )
    else:
        report.findings.append(
            Finding(True, f"chat completion in {report.whole_s:.2f} s: {text.strip()[:80]!r}")
        )
