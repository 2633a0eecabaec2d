"""Client errors with a clear ``{"detail": "..."}`` body, and the handlers that render them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from anomalyd.service import faults
from anomalyd.service.evaluations import EvaluationNotFoundError

log = logging.getLogger("anomalyd")

MAX_LISTED_ERRORS = 10


class ApiError(Exception):
    """An error the client can fix (4xx) or a transient refusal (429/503)."""

    status_code = 400

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ApiError):
    status_code = 400


class Unauthorized(ApiError):
    status_code = 401


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class PayloadTooLarge(ApiError):
    status_code = 413


class UnsupportedMediaType(ApiError):
    status_code = 415


class Unprocessable(ApiError):
    status_code = 422


class TooManyRequests(ApiError):
    status_code = 429


class Unavailable(ApiError):
    status_code = 503


def _loc(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


#: the branches pydantic reports for a point's value (a number, or a list of them per channel)
NUMBER, NUMBERS = "float", "list[float]"


def _branch_taken(errors: Sequence[Any]) -> list[Any]:
    """Pydantic reports every branch of the number-or-list union of a point's value; keep the
    branch the input took (the list's when its error points inside the list, else the
    number's), without the branch's name in the location."""
    out: list[Any] = []
    groups: dict[tuple[Any, ...], list[tuple[str, bool, Any]]] = {}
    for err in errors:
        loc = tuple(err.get("loc", ()))
        at = next((i for i, part in enumerate(loc) if part in (NUMBER, NUMBERS)), None)
        if at is None:
            out.append(err)
            continue
        groups.setdefault(loc[:at], []).append((loc[at], len(loc) > at + 1, err))
    for prefix, found in groups.items():
        inside = [e for tag, deeper, e in found if tag == NUMBERS and deeper]
        for err in inside or [e for tag, _, e in found if tag == NUMBER]:
            loc = tuple(err["loc"])
            out.append({**err, "loc": prefix + loc[len(prefix) + 1 :]})
    return out


def describe_validation(errors: Sequence[Any]) -> str:
    """One readable sentence per pydantic error (first few only)."""
    lines = []
    errors = _branch_taken(errors)
    for err in list(errors)[:MAX_LISTED_ERRORS]:
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx", {}).get("error", "")
            lines.append(f"The request body is not valid JSON ({ctx}).")
            continue
        lines.append(f"{_loc(err.get('loc', ()))}: {err.get('msg', 'invalid')}")
    more = len(errors) - MAX_LISTED_ERRORS
    if more > 0:
        lines.append(f"... and {more} more error(s)")
    return "; ".join(lines)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    err = exc if isinstance(exc, ApiError) else ApiError(str(exc))
    return JSONResponse({"detail": err.detail}, err.status_code, headers=err.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    kind = request.headers.get("content-type", "")
    if not _is_json(kind) and any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        detail = f"Send the body as JSON with Content-Type: application/json (got {kind!r})."
        return JSONResponse({"detail": detail}, 415)
    return JSONResponse({"detail": describe_validation(errors)}, 422)


def _is_json(content_type: str) -> bool:
    """Whether a Content-Type names JSON, as FastAPI reads it (``application/json`` or a
    ``+json`` type, any case, parameters ignored)."""
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        return JSONResponse({"detail": "Internal error."}, 500)
    headers = getattr(exc, "headers", None)
    return JSONResponse({"detail": str(exc.detail)}, exc.status_code, headers=headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": f"Internal error ({type(exc).__name__}); see server log."}, 500)


DOMAIN_STATUS: dict[type[Exception], int] = {
    faults.InvalidInput: 422,
    faults.MalformedBody: 400,
    faults.TooLarge: 413,
    faults.UnknownSeries: 404,
    faults.ConflictingChange: 409,
    faults.Overloaded: 429,
    faults.NotRunning: 503,
    EvaluationNotFoundError: 404,
}
"""What the core raises (it knows nothing of HTTP), by the status it is answered with."""


def status_of(exc: Exception) -> int:
    """The HTTP status of a core error (500 for one not in ``DOMAIN_STATUS``)."""
    return next((code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind)), 500)


def http_error(exc: faults.Refusal, headers: dict[str, str] | None = None) -> ApiError:
    """A core refusal as the HTTP error it is answered with (``Retry-After`` when set)."""
    err = ApiError(exc.detail, headers=_retry_headers(exc) | (headers or {}))
    err.status_code = status_of(exc)
    return err


def _retry_headers(exc: Exception) -> dict[str, str]:
    retry = getattr(exc, "retry_after", None)
    return {} if retry is None else {"Retry-After": f"{retry:g}"}


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_of(exc), headers=_retry_headers(exc) or None)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for kind in DOMAIN_STATUS:
        app.add_exception_handler(kind, _domain_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
