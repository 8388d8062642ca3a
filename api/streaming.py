"""Server-Sent Events whose generation stops when the client hangs up.

Starlette streams a synchronous iterator from a worker thread and, when the client disconnects,
cancels the sending task, but never closes the iterator: measured through `/v1/query`, an answer
abandoned after its first token went on to its 200-token limit, and the model server (which
generates one reply at a time) made the next request wait 7.8 s for it. Every SSE route here
hands its iterator to `sse_response`, which closes it once the response ends, hung up or not.
Closing a generator runs its `finally` blocks, which close the model's stream (an HTTP response
to the model server, or the in-process model's stop event).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

log = logging.getLogger(__name__)

#: how long to wait for a piece being produced in a worker thread before the iterator can close
CLOSE_WAIT_S = 30.0
_POLL_S = 0.02


def sse_response(events: Iterator[str], headers: dict[str, str] | None = None) -> StreamingResponse:
    """`events` as `text/event-stream`, closed when the response ends (done, or hung up on)."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", **(headers or {})},
        background=BackgroundTask(_close, events),
    )


async def _close(events: Iterator[str]) -> None:
    """Close the iterator; a generator busy in a worker thread (waiting for the model's next
    token) cannot be closed until that piece comes, so try again until it can."""
    close = getattr(events, "close", None)
    if close is None:
        return
    waited = 0.0
    while True:
        try:
            close()
            return
        except ValueError:  # "generator already executing"
            if waited >= CLOSE_WAIT_S:
                log.warning("event=stream_not_closed waited_s=%g", waited)
                return
            await anyio.sleep(_POLL_S)
            waited += _POLL_S
