"""One OpenAI-compatible chat client for vLLM, SGLang, Ollama (`/v1`), LMDeploy, Xinference and llama.cpp.

Built on httpx, which the project already uses, rather than the openai SDK: what is needed here is a
retry policy limited to failures where nothing was generated, errors that name the server's URL (never
the key), and a small SSE reader, each short enough to read in one sitting.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import httpx

from rag.common.chat import Message, ModelError, ModelRequestError, ModelUnavailable, TokenLogprobs
from rag.config import mask_url
from rag.generate.quirks import ADAPTER_LISTS, adapter_extras, request_extras, server_kind

log = logging.getLogger(__name__)

#: answers that mean "not now" (model still loading behind a proxy, overloaded): retried with backoff
_RETRY_STATUS = frozenset({429, 502, 503, 504})
#: answers that refuse this one request (prompt over the context, bad field): callers may skip it
_REQUEST_STATUS = frozenset({400, 413, 422})
#: transport failures before any answer: nothing was generated, so a retry is safe and cheap. A read
#: timeout is not among them: the model is slow, and asking again would only double the wait.
_RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
)
_MAX_BACKOFF_S = 8.0
_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class _Served:
    """The model a request names, the kind of server that runs it (for the quirks table) and the
    fields that select a LoRA adapter the model name stands for (llama.cpp)."""

    model: str
    server: str
    adapter: dict[str, Any] = field(default_factory=dict)


class ChatClient:
    """Chat completions from a model server; `base_url` ends in `/v1`.

    `model` may be empty when the server serves exactly one model, and `server` (a kind in
    `quirks.SERVER_BY_OWNER`, "" for none) is read from `GET /models` when not given. Connection
    failures and "not ready" answers are retried `retries` times, waiting `backoff`, then twice that…
    """

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        api_key: str = "",
        timeout: float = 60.0,
        server: str | None = None,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = mask_url(self.base_url)
        if not self.base_url.startswith(("http://", "https://")):
            raise ModelError(f"LLM URL {self.url!r} must start with http:// or https:// and end in /v1")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._model = model
        self._server = server
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )

    @property
    def name(self) -> str:
        """The model named, or the one the server serves (asked only then, so a cache keyed by it
        works while the server is down)."""
        return self._model or self._served.model

    @property
    def description(self) -> str:
        model = f"model {self._model!r}" if self._model else "its model"
        return f"LLM server {self.url} ({model})"

    @property
    def server(self) -> str:
        """The server kind whose quirks apply ("" when unknown)."""
        return self._served.server

    def models(self) -> list[dict[str, Any]]:
        """The server's model cards (`GET /models`)."""
        response = self._send("GET", "models")
        try:
            cards = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise ModelError(f"{self.url}/models did not answer with a model list") from None
        return [card for card in cards if isinstance(card, dict)]

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_mode: bool = False,
    ) -> str:
        body = self._body(messages, max_tokens, temperature, stream=False)
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        response = self._send("POST", "chat/completions", body)
        try:
            return response.json()["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ModelError(f"{self.description} answered with something other than a chat reply") from None

    def complete_logprobs(
        self, messages: Sequence[Message], *, max_tokens: int = 4, top_logprobs: int = 10
    ) -> tuple[str, list[TokenLogprobs]]:
        """A greedy reply with OpenAI's `logprobs` (vLLM, llama.cpp, SGLang, LMDeploy return them);
        a server that ignores the field answers without them, and the list is then empty. A server
        that refuses the field raises `ModelRequestError`, so the caller can stop asking."""
        body = self._body(messages, max_tokens, 0.0, stream=False)
        body.update(logprobs=True, top_logprobs=top_logprobs)
        response = self._send("POST", "chat/completions", body)
        try:
            choice = response.json()["choices"][0]
            reply = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise ModelError(f"{self.description} answered with something other than a chat reply") from None
        return reply, _token_logprobs(choice.get("logprobs"))

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> Iterator[str]:
        body = self._body(messages, max_tokens, temperature, stream=True)
        response = self._send("POST", "chat/completions", body, stream=True)
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, `: keep-alive` comments, `event:` lines
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    return
                if piece := self._piece(data):
                    yield piece
        except httpx.TimeoutException:
            raise ModelUnavailable(f"{self.url} stopped sending for {self.timeout:g} s mid-reply") from None
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"connection to {self.url} broke mid-reply: {exc}") from None
        finally:
            response.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------------------
    @cached_property
    def _served(self) -> _Served:
        """The model and server kind, asking `GET /models` only for what the caller left open."""
        if self._model and self._server is not None:
            return _Served(self._model, self._server, self._adapter(self._server, self._model))
        try:
            cards = self.models()
        except ModelUnavailable:
            raise
        except ModelError:
            if not self._model:
                raise
            cards = []  # some proxies have no model list: the named model will do
        server = self._server if self._server is not None else server_kind(cards)
        model = self._model
        if not model:
            ids = [str(card.get("id")) for card in cards]
            if len(ids) != 1:
                listed = ", ".join(ids) or "none listed"
                raise ModelError(
                    f"no model named and {self.url} serves {len(ids)} ({listed}): set RAG_LLM_MODEL"
                )
            model = ids[0]
        return _Served(model, server, self._adapter(server, model))

    def _adapter(self, server: str, model: str) -> dict[str, Any]:
        """The fields that pick the LoRA adapters applied, on a server that applies them per
        request (quirks.ADAPTER_LISTS): the one `model` names, or none for the base's name."""
        route = ADAPTER_LISTS.get(server)
        if not route:
            return {}
        root = self.base_url.removesuffix("/v1")
        try:
            listed = self._send("GET", f"{root}/{route}").json()
        except ModelUnavailable:
            raise  # not cached: the next request asks again
        except (ModelError, ValueError):
            return {}  # an older server without the route: the model name is all there is
        return adapter_extras(server, model, listed if isinstance(listed, list) else [])

    def _body(
        self, messages: Sequence[Message], max_tokens: int, temperature: float, *, stream: bool
    ) -> dict[str, Any]:
        served = self._served
        return {
            "model": served.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
            **request_extras(served.server, served.model),
            **served.adapter,
        }

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, stream: bool = False
    ) -> httpx.Response:
        """One request with retries; a successful response (streamed: still open) or a ModelError."""
        request = self._http.build_request(method, path, json=body)
        attempts = self.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.send(request, stream=stream)
            except _RETRY_ERRORS as exc:
                if last:
                    raise ModelUnavailable(
                        f"LLM server {self.url} is unreachable after {attempts} attempts "
                        f"({type(exc).__name__}: {exc}); start it or fix RAG_LLM_URL"
                    ) from None
                self._wait(attempt, type(exc).__name__)
                continue
            except httpx.TimeoutException:
                raise ModelUnavailable(
                    f"{self.description} gave no answer within {self.timeout:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise ModelUnavailable(f"{self.description} failed: {type(exc).__name__}: {exc}") from None
            if response.is_success:
                return response
            status = response.status_code
            detail = _error_detail(response)
            response.close()
            if status in _RETRY_STATUS and not last:
                self._wait(attempt, f"HTTP {status}")
                continue
            raise _error_kind(status)(f"{self.description} answered HTTP {status}: {detail}")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait(self, attempt: int, reason: str) -> None:
        delay = min(self.backoff * 2**attempt, _MAX_BACKOFF_S)
        log.warning(
            "event=llm_retry url=%s attempt=%d reason=%s wait_s=%.2f", self.url, attempt + 1, reason, delay
        )
        time.sleep(delay)

    def _piece(self, data: str) -> str:
        try:
            event = json.loads(data)
        except ValueError:
            raise ModelError(f"{self.description} streamed an event that is not JSON") from None
        if not isinstance(event, dict):
            return ""
        if "error" in event:
            raise ModelError(f"{self.description} failed mid-reply: {_message_of(event)}")
        choices = event.get("choices") or []
        delta = choices[0].get("delta") if choices and isinstance(choices[0], dict) else None
        return (delta or {}).get("content") or ""


def _token_logprobs(logprobs: Any) -> list[TokenLogprobs]:
    """OpenAI's `choices[0].logprobs` as one {token: logprob} per generated token, the chosen one
    included; anything malformed counts as absent (the caller falls back to the reply's text)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    tokens: list[TokenLogprobs] = []
    for entry in content if isinstance(content, list) else []:
        if not isinstance(entry, dict):
            return []
        alternatives = [entry, *(entry.get("top_logprobs") or [])]
        try:
            tokens.append({str(a["token"]): float(a["logprob"]) for a in reversed(alternatives)})
        except (KeyError, TypeError, ValueError):
            return []
    return tokens


def _error_kind(status: int) -> type[ModelError]:
    if status in _RETRY_STATUS:
        return ModelUnavailable  # still not ready after the retries
    if status in _REQUEST_STATUS:
        return ModelRequestError
    return ModelError


def _error_detail(response: httpx.Response) -> str:
    """The server's own reason, from the shapes the servers use, cut short for a one-line message."""
    try:
        response.read()
    except httpx.HTTPError:
        return "no detail"
    try:
        return _message_of(response.json())[:_MAX_DETAIL]
    except ValueError:
        return response.text.strip()[:_MAX_DETAIL] or "no detail"


def _message_of(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("error", "message", "detail", "msg"):
            value = payload.get(key)
            if isinstance(value, dict | list):
                return _message_of(value)
            if value:
                return str(value)
    if isinstance(payload, list) and payload:
        return _message_of(payload[0])
    return json.dumps(payload)[:_MAX_DETAIL]
