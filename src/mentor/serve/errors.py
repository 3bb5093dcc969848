"""One error shape for every refusal of the server: ``{"error": {"message", "type", "code"}}``.

The shape is OpenAI's, so the ``openai`` client raises its usual exceptions; the dashboard and its
401 use it too. :func:`install_error_handlers` maps everything a route can raise onto it:
:class:`ApiError` (a refusal with its status), a :class:`~mentor.errors.MentorError` (its
``http_status``; 4xx are the caller's to fix), FastAPI's validation errors (400, naming the field),
Starlette's HTTP errors (404, 405) and anything else (500, logged, never echoed).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mentor.errors import MentorError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the server refuses: status, OpenAI-style type and code, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.headers = headers


def error_body(message: str, type: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code}}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _json(status: int, message: str, type: str, code: str | None, **kw: Any) -> JSONResponse:
    return JSONResponse(error_body(message, type, code), status_code=status, **kw)


async def _api_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ApiError)
    return _json(err.status, err.message, err.type, err.code, headers=err.headers)


async def _mentor_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, MentorError)
    status = err.http_status
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return _json(status, str(err), kind, _snake(type(err).__name__))


async def _invalid(request: Request, err: Exception) -> JSONResponse:
    """400 naming each bad field (``max_tokens: Input should be greater than or equal to 1``)."""
    assert isinstance(err, RequestValidationError)
    parts = []
    for e in err.errors()[:10]:
        if e.get("type") == "json_invalid":
            parts.append("body: not valid JSON")
            continue
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return _json(400, "; ".join(parts), "invalid_request_error", "invalid_body")


async def _http(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    code = _snake(f"Http{err.status_code}")
    return _json(
        err.status_code, str(err.detail), "invalid_request_error", code, headers=err.headers
    )


async def _crash(request: Request, err: Exception) -> JSONResponse:
    log.exception("request failed")
    return _json(500, "internal server error", "server_error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the one shape (the API's and the dashboard's app)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(MentorError, _mentor_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _crash)
