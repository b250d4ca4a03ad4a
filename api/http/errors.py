"""One error form for every 4xx and 5xx answer of the HTTP API, and its OpenAPI declaration.

Every error body is ``{"error": {"code": ..., "message": ..., "hint": ...}}``; ``code`` is
:attr:`ledger.errors.HeritageError.code`, the same code the CLI prints as ``error[code]``, so
a script branches on it the same way in both. Bad input is a 4xx with a stable code, never a
500; a 500 (``internal_error``) names no detail of the fault, which goes to the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ledger.errors import HeritageError, UsageError

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "Forbidden",
    "RateLimited",
    "Unauthorized",
    "error_response",
    "error_responses",
    "install_error_handlers",
]

_log = logging.getLogger(__name__)


class Unauthorized(HeritageError):
    """A request that needs a keyholder's signature and has none that holds (HTTP 401)."""

    code = "unauthorized"
    http_status = 401


class Forbidden(HeritageError):
    """A signed request by someone who is not a keyholder of the community (HTTP 403)."""

    code = "forbidden"
    http_status = 403


class RateLimited(HeritageError):
    """A client over its request rate (HTTP 429)."""

    code = "rate_limited"
    http_status = 429


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, as the CLI's error[code]")
    message: str = Field(description="what was wrong")
    hint: str | None = Field(default=None, description="what to do about it")


class ErrorBody(BaseModel):
    """The one error form of every 4xx and 5xx answer."""

    error: ErrorDetail


_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "limit_exceeded",
    415: "unsupported_media_type",
    422: "usage_error",
    429: "rate_limited",
    503: "chain_unavailable",
    504: "timeout",
}

#: An example of each status, for the OpenAPI document.
_EXAMPLES: Final[dict[int, tuple[str, str, str | None]]] = {
    400: ("usage_error", "limit must be between 1 and 500", "give a smaller limit"),
    401: ("unauthorized", "this request needs a keyholder's signature", "sign it (docs/api.md)"),
    403: ("forbidden", "the signer is not a keyholder of the community", None),
    404: ("not_found", "no community named 'Reef' on this chain", "check the name"),
    409: ("duplicate_claim", "the community already claims this content", None),
    413: ("limit_exceeded", "the request body is over 67108864 bytes", "send a smaller file"),
    422: ("usage_error", "invalid request: query limit: not an integer", None),
    429: ("rate_limited", "too many requests from this client", "retry after 1 s"),
    500: ("internal_error", "internal error; see the server's log", None),
    502: ("chain_error", "the chain answered with an error", "check the chain's log"),
    503: ("chain_unavailable", "no chain answers at http://127.0.0.1:8545", "start it"),
    504: ("timeout", "the request took longer than 60 s", "retry, or narrow it"),
}

_DESCRIPTIONS: Final = {
    400: "Bad input",
    401: "No valid keyholder signature",
    403: "Not a keyholder of the community",
    404: "Not found",
    409: "Conflicts with the registry's state",
    413: "Too large",
    422: "Invalid parameters",
    429: "Too many requests",
    500: "Internal error",
    502: "The chain failed",
    503: "The chain does not answer",
    504: "Took too long",
}

#: Statuses every operation can answer (limits, the rate, a server fault, a timeout).
COMMON_STATUSES: Final = (413, 422, 429, 500, 504)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an operation's error statuses (each with an example),
    plus the ones every operation can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    wanted = {*statuses, *COMMON_STATUSES}
    if 503 in wanted:
        wanted.add(502)  # what needs the chain can also meet a chain that fails
    for status in sorted(wanted):
        code, message, hint = _EXAMPLES[status]
        out[status] = {
            "model": ErrorBody,
            "description": _DESCRIPTIONS[status],
            "content": {
                "application/json": {
                    "example": {"error": {"code": code, "message": message, "hint": hint}}
                }
            },
        }
    return out


def error_response(
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "hint": hint}}
    return JSONResponse(
        body, status_code=status, headers={"X-Content-Type-Options": "nosniff", **(headers or {})}
    )


def _heritage(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HeritageError):  # pragma: no cover - registered for HeritageError
        return _internal(_request, exc)
    status = exc.http_status
    if status >= 500 and status not in (502, 503):
        _log.error("%s: %s", exc.code, exc)
    headers = {"Retry-After": "1"} if status == 429 else None
    return error_response(status, exc.code, exc.message, exc.hint, headers)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        return _internal(_request, exc)
    status = exc.status_code
    message = "no such endpoint" if status == 404 else str(exc.detail)
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message)


def _problems(errors: Iterable[Any]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts[:5])


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else ()
    return error_response(
        422,
        UsageError.code,
        f"invalid request: {_problems(errors)}",
        "see /openapi.json for the parameters this operation takes",
    )


def _disconnect(_request: Request, _exc: Exception) -> JSONResponse:
    return error_response(400, UsageError.code, "the client went away before the request was read")


def _internal(_request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the server's log")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception a request can raise to the one error form."""
    app.add_exception_handler(HeritageError, _heritage)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ClientDisconnect, _disconnect)
    app.add_exception_handler(Exception, _internal)
