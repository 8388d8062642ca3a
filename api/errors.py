"""Every error the API returns is JSON with a code and a clear message, never a traceback.

The service's own routes answer `{"error": {"code", "message"}}`; the Dify route answers Dify's
`{"error_code", "error_msg"}` (api/dify.py). Validation errors name the field that was wrong.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag.common.chat import ModelError, ModelUnavailable
from rag.extract.base import ExtractorUnavailable
from rag.stores.errors import StoreUnavailable

log = logging.getLogger(__name__)
#: codes of the HTTP errors raised outside the routes (api/body_limit.py)
_CODES = {413: "request_too_large"}


class ApiError(Exception):
    """An error with its HTTP status, a stable machine-readable code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def validation_message(exc: RequestValidationError) -> str:
    """ "body.question: Field required; body.top_k: Input should be a valid integer"."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the JSON error handlers on the app."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", validation_message(exc)), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(_CODES.get(exc.status_code, f"http_{exc.status_code}"), str(exc.detail)),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse(error_body("store_unavailable", str(exc)), status_code=503)

    @app.exception_handler(ExtractorUnavailable)
    async def _extractor_missing(_: Request, exc: ExtractorUnavailable) -> JSONResponse:
        return JSONResponse(error_body("extractor_unavailable", str(exc)), status_code=503)

    @app.exception_handler(ModelError)
    async def _model_failed(_: Request, exc: ModelError) -> JSONResponse:
        # a model that cannot be opened at all is this service's state (503), not the reply of an
        # upstream that failed this request (502)
        status = 503 if isinstance(exc, ModelUnavailable) else 502
        return JSONResponse(error_body(model_error_code(exc), str(exc)), status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("event=unhandled_error path=%s", request.url.path)
        return JSONResponse(
            error_body("internal_error", "internal error; see the server log"), status_code=500
        )


def model_error_code(exc: ModelError) -> str:
    """`model_unavailable` when the chat model cannot be opened (missing weights, no server), else
    `model_error`: the code of an error body or of a stream's error event."""
    return "model_unavailable" if isinstance(exc, ModelUnavailable) else "model_error"
