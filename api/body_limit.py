"""The largest request body the service reads (RAG_UPLOAD_MAX_MB), counted before and while it is read.

FastAPI parses an upload's whole multipart body before the route runs, spooling each file to a
temporary file, so without a limit a 1 GB upload is read and written to disk in full before
`api/documents.py` can refuse the file as too large. Here:

- a `Content-Length` over the limit is refused with 413 before a byte of the body is read;
- a body without one (chunked) is counted as it arrives, and the first chunk past the limit
  ends the request with 413: at most the limit is ever spooled.

Either reply says `Connection: close`, so the server closes the connection instead of reading the
rest of the body only to throw it away (uvicorn drains an unread body to keep a connection alive).
FastAPI's own `max_body_size` does the counting too, but swaps any reply to a request whose
`Content-Length` is over its limit for a plain-text "Content Too Large", where every error of
this service is JSON that names the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from ingest.loaders.base import megabytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body crosses the limit: FastAPI passes an HTTPException from
    body parsing on as it is, and api/errors.py answers it as JSON."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit), headers={"Connection": "close"})


def too_large(limit: int) -> str:
    return f"the request body is over the {megabytes(limit)} limit; raise RAG_UPLOAD_MAX_MB to allow it"


class BodyLimit:
    """Pure ASGI middleware (so `receive` is wrapped as the route reads it, not buffered first)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = JSONResponse(
                error_body("request_too_large", too_large(self.max_bytes)),
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one itself
    return None
