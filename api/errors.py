"""Errors as the IPFS node's HTTP face reports them: Kubo's error body plus a stable code.

Every error response is JSON of the shape Kubo's RPC API uses, so ipfshttpclient raises
``ErrorResponse`` with our message (it does so only when ``Message`` is present)::

    {"Message": "...", "Code": 0, "Type": "error", "ErrorCode": "invalid_cid"}

``ErrorCode`` is :attr:`ledger.errors.HeritageError.code`, for scripts to branch on. Kubo answers
most RPC errors with 500; we answer bad input with the 4xx its ``http_status`` names, and keep
5xx for faults of the node itself. No response ever carries a stack trace.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ledger.errors import HeritageError, UsageError

__all__ = ["BrowserRequestRefused", "install_error_handlers", "kubo_error_response"]

_log = logging.getLogger(__name__)

_HTTP_CODES: Final = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "limit_exceeded",
}


class BrowserRequestRefused(UsageError):
    """An RPC call that a web page made: refused, so no page can drive the node (CSRF)."""

    code = "browser_request_refused"
    http_status = 403


def kubo_error_response(
    status: int, message: str, code: str, *, hint: str | None = None
) -> JSONResponse:
    """Kubo's error body with our stable ``ErrorCode`` (and the hint, when there is one)."""
    body: dict[str, object] = {"Message": message, "Code": 0, "Type": "error", "ErrorCode": code}
    if hint:
        body["Hint"] = hint
    return JSONResponse(body, status_code=status, headers={"X-Content-Type-Options": "nosniff"})


def _heritage(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HeritageError):  # pragma: no cover - registered for HeritageError
        return _internal(_request, exc)
    if exc.http_status >= 500:
        _log.error("%s: %s", exc.code, exc)
    return kubo_error_response(exc.http_status, exc.message, exc.code, hint=exc.hint)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        return _internal(_request, exc)
    status = exc.status_code
    message = "no such endpoint" if status == 404 else str(exc.detail)
    if status == 405:
        message = "method not allowed: the RPC API takes POST, the gateway GET and HEAD"
    return kubo_error_response(status, message, _HTTP_CODES.get(status, "http_error"))


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    return kubo_error_response(400, f"invalid request: {exc}", UsageError.code)


def _disconnect(_request: Request, _exc: Exception) -> JSONResponse:
    # Nobody is left to read this; answer something well-formed anyway.
    message = "the client went away before the request was read"
    return kubo_error_response(400, message, UsageError.code)


def _internal(_request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error while serving a request", exc_info=exc)
    return kubo_error_response(
        500, "internal error in the IPFS node; see its log", "internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception a request can raise to a Kubo-shaped JSON response."""
    app.add_exception_handler(HeritageError, _heritage)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ClientDisconnect, _disconnect)
    app.add_exception_handler(Exception, _internal)
