"""The commands that `rag serve` takes over while it holds the data folder, sent to its HTTP API.

The embedded stores admit one process: while `rag serve` runs, any other would stop on the lock.
So `rag ingest`, `ask`, `retrieve`, `status`, `kb` and `docs` first look for the server's record
beside the lock (`rag.stores.server_record`, trusted only when it is this user's own and names
the lock's live holder) and, when there is one, send the work there with its local credential,
showing the reply as they show their own results. Every other command keeps failing on the lock,
with a message that names the server (`rag.cli.support.locked_message`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx
from rich.markup import escape

from rag.cli.support import err, fail, load_settings
from rag.config import Settings
from rag.stores.server_record import ServerRecord, running_server

#: seconds to wait for a connection: the server is on this machine, so one that does not accept
#: by then is stuck, whatever RAG_SERVE_FORWARD_TIMEOUT_S allows for the reply
_CONNECT_TIMEOUT_S = 10.0


class Remote:
    """An HTTP client of the `rag serve` that holds the data folder, as the local admin."""

    def __init__(self, record: ServerRecord, timeout_s: float) -> None:
        self.url = record.url
        self._client = httpx.Client(
            base_url=record.url,
            headers={"Authorization": f"Bearer {record.credential.get_secret_value()}"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, _CONNECT_TIMEOUT_S)),
            trust_env=False,  # the server is on this machine: no proxy of the environment applies
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        expect: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The server's reply; an error status not in `expect` exits with the server's message."""
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.HTTPError as exc:
            raise fail(self._unreachable(exc)) from None
        if response.is_error and response.status_code not in expect:
            raise fail(error_message(response))
        return response

    def events(self, path: str, body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """The Server-Sent Events of a streamed reply as (event, data), as they arrive."""
        try:
            with self._client.stream("POST", path, json=body) as response:
                if response.is_error:
                    response.read()
                    raise fail(error_message(response))
                event = "message"
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        event = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        yield event, json.loads(line.removeprefix("data:"))
        except httpx.HTTPError as exc:
            raise fail(self._unreachable(exc)) from None

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        return (
            f"rag serve on {self.url} holds this data folder but did not answer "
            f"({type(exc).__name__}): it may be starting or stopping; try again, or stop it"
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def error_message(response: httpx.Response) -> str:
    """The message of the API's `{"error": {"code", "message"}}`, or the status when there is none."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"rag serve answered HTTP {response.status_code}"


def forwarding_server(settings: Settings | None = None) -> Remote | None:
    """A client of the `rag serve` that holds the embedded stores of the configured data folder;
    None when no trusted server does (the command then opens the stores itself). Says on stderr
    where the work goes, so that nobody wonders why the command did not take the lock."""
    settings = settings or load_settings()
    if not settings.uses_embedded_store:
        return None
    record = running_server(settings.data_dir)
    if record is None:
        return None
    err.print(
        f"[dim]sent to rag serve on {escape(record.url)} (it holds this data folder)[/]", highlight=False
    )
    return Remote(record, settings.serve_forward_timeout_s)
