"""A real OpenAI-compatible model server on 127.0.0.1 for tests, and the session fixtures around it.

`/v1/models` and `/v1/chat/completions` (whole, or streamed as SSE) are answered by a `ChatModel`: the
in-process SmolLM2 here. Like a production server misbehaving, it can answer a model name with a fixed
reply (malformed JSON, say), with a reply computed from the request (which may answer 503, as an engine
that went down), or with "503 not ready" a few times first; it counts every chat request and the most
that were in flight at once per model.
Test modules bind the fixture they use from here (`chat_server = openai_server.chat_server`);
the `smollm2` fixture it serves lives in tests/conftest.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.generate import ChatModel, ModelRequestError, ModelUnavailable
from rag.generate.local import LocalChatModel

#: the key every request must carry, as a real server configured with `--api-key` would check it
API_KEY = "sk-test-key"
#: the one model name this server really generates for; other names are canned or unknown
SERVED = "smollm2"


class ChatServer:
    """OpenAI's chat API on a free loopback port, answered by a real `ChatModel`."""

    def __init__(self, model: ChatModel, owned_by: str = "vllm") -> None:
        self.model = model
        self.owned_by = owned_by
        #: model name → its reply, or a function of the request body giving it (ModelUnavailable: 503)
        self.canned: dict[str, str | Callable[[dict[str, Any]], str]] = {}
        #: model name → how many "503 loading" answers come before the real one
        self.not_ready: Counter[str] = Counter()
        #: chat request bodies, in order
        self.requests: list[dict[str, Any]] = []
        #: model name → chat requests being answered now, and the most there ever were at once
        self.in_flight: Counter[str] = Counter()
        self.peak_in_flight: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def asked(self, model: str) -> list[dict[str, Any]]:
        """The chat requests that named `model`."""
        with self._lock:
            return [body for body in self.requests if body.get("model") == model]

    @contextmanager
    def serving(self, model: str) -> Iterator[None]:
        """Count one request to `model` as in flight while it is answered."""
        with self._lock:
            self.in_flight[model] += 1
            self.peak_in_flight[model] = max(self.peak_in_flight[model], self.in_flight[model])
        try:
            yield
        finally:
            with self._lock:
                self.in_flight[model] -= 1

    @contextmanager
    def running(self) -> Iterator[ChatServer]:
        thread = threading.Thread(target=self._http.serve_forever, name="chat-server", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._http.shutdown()
            self._http.server_close()
            thread.join()

    def chat(self, body: dict[str, Any]) -> tuple[int, Any]:
        """(status, payload) for a non-streamed request, or (200, iterator of pieces) for a streamed one."""
        with self._lock:
            self.requests.append(body)
            name = body.get("model", "")
            if self.not_ready[name] > 0:
                self.not_ready[name] -= 1
                return 503, {"error": {"message": "model is loading"}}
        if name in self.canned:
            reply = self.canned[name]
            try:
                pieces: Iterator[str] = iter([reply(body) if callable(reply) else reply])
            except ModelUnavailable as exc:
                return 503, {"error": {"message": str(exc)}}
        elif name == SERVED:
            kwargs = {"max_tokens": body.get("max_tokens", 16), "temperature": body.get("temperature", 0.0)}
            try:
                if body.get("stream"):
                    pieces = self.model.stream(body["messages"], **kwargs)
                else:
                    pieces = iter([self.model.complete(body["messages"], **kwargs)])
            except ModelRequestError as exc:  # what real servers answer to a prompt over the context
                return 400, {"error": {"message": str(exc), "type": "BadRequestError"}}
        else:
            return 404, {"error": {"message": f"The model `{name}` does not exist."}}
        return 200, pieces


def _handler(state: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/models":
                self._json(404, {"error": {"message": "not found"}})
                return
            names = [SERVED, *state.canned]
            cards = [{"id": name, "object": "model", "owned_by": state.owned_by} for name in names]
            self._json(200, {"object": "list", "data": cards})

        def do_POST(self) -> None:
            if not self._authorized():
                return
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found"}})
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.serving(body.get("model", "")):
                status, answer = state.chat(body)
                if status != 200:
                    self._json(status, answer)
                elif body.get("stream"):
                    self._sse(body["model"], answer)
                else:
                    self._json(200, _completion(body["model"], "".join(answer)))

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {API_KEY}":
                return True
            self._json(401, {"error": {"message": "Incorrect API key provided", "type": "auth"}})
            return False

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, model: str, pieces: Iterator[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            for piece in pieces:
                self._event(_chunk(model, {"content": piece}, None))
            self._event(_chunk(model, {}, "stop"))
            self.wfile.write(b"data: [DONE]\n\n")

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@contextmanager
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that accepts each connection and closes it unanswered: (its /v1 URL, [accepts])."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # closing a socket does not wake a blocked accept(): poll a flag instead
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            connection.close()

    thread = threading.Thread(target=serve, name="hanging-up-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", accepted
    finally:
        stop.set()
        thread.join()
        listener.close()


@pytest.fixture(scope="session")
def chat_server(smollm2: LocalChatModel) -> Iterator[ChatServer]:
    with ChatServer(smollm2).running() as server:
        yield server
