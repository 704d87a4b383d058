"""API errors: one JSON shape for all of them, {"error": {"code", "message", "field"}}, with
the status its name says (401, 403, 404, 409, 413, 422, 429)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large",
         415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
         500: "internal", 503: "unavailable"}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": CODES[code].replace("_", " ")}
    for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
"""The error answers any operation may give, for the OpenAPI document."""


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_response(status: int, message: str, *, code: str | None = None,
                   field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    detail = ErrorDetail(code=code or CODES.get(status, "error"), message=message, field=field)
    return JSONResponse(ErrorBody(error=detail).model_dump(), status_code=status, headers=headers)


def field_path(location: tuple[Any, ...] | list[Any]) -> str | None:
    """("body", "to", 1) -> "to[1]"; ("query", "limit") -> "limit"."""
    parts = [p for p in location if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, code=exc.code, field=exc.field,
                              headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = field_path(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid request"))
        if first.get("type") == "json_invalid":
            return error_response(400, "the body is not valid JSON", code="bad_json")
        return error_response(422, f"{where}: {message}" if where else message, field=where)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {"Allow": ", ".join(sorted(allowed_methods(request)))}
        return error_response(exc.status_code, message, headers=headers)


def allowed_methods(request: Request) -> set[str]:
    """Every method some route of the app takes at the request's path (RFC 9110 15.5.6: the
    Allow header of a 405 lists them all, not only those of the first route that matched)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods
