"""The ASGI application of the http listener: /v1 (OpenAPI at /v1/openapi.json), the health
check and MTA-STS policies; one JSON error shape; a limit on request bodies."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postoffice import __version__
from postoffice.api import errors
from postoffice.api.auth import KeyCache
from postoffice.api.context import ApiContext
from postoffice.api.routes import (
    batch,
    domains,
    keys,
    messages,
    site,
    stats,
    suppressions,
    templates,
    tracking,
    unsubscribe,
    webhooks,
)

DESCRIPTION = """Send mail, read its log and events, manage the tenant's domains and keys.

Every request carries an API key (`Authorization: Bearer po_...`); the key belongs to one
tenant and everything it sees and does is that tenant's. Errors have one shape:
`{"error": {"code": "...", "message": "...", "field": "..."}}`."""


def create_app(context: ApiContext) -> ASGIApp:
    app = FastAPI(title="postoffice", version=__version__, description=DESCRIPTION,
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None,
                  dependencies=[Depends(known_query)], responses=errors.RESPONSES)
    app.state.context = context
    app.state.keys = KeyCache(context.key_cache_ttl)
    errors.install(app)
    for module in (site, batch, messages, domains, keys, stats, suppressions, templates,
                   webhooks, tracking, unsubscribe):
        app.include_router(module.router)
    return BodyLimit(app, context.max_body)


async def known_query(request: Request) -> None:
    """422 for a query parameter the operation does not take (a typo would otherwise be
    silently ignored: `recipeint=` listing every message)."""
    if not request.url.path.startswith("/v1/"):
        return  # links in mail (/u/, /t/) gain query parameters on their way: they are fine
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {param.alias for param in _query_params(dependant)}
    for name in request.query_params:
        if name not in known:
            raise errors.ApiError(422, f"unknown query parameter {name[:50]!r}", field=name[:50])


def _query_params(dependant: Any) -> list[Any]:
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found += _query_params(sub)
    return found


class BodyLimit:
    """413 for a request body over `limit` octets: by Content-Length at once, else once the
    streamed body passes it (the body is read before the application sees the request)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await errors.error_response(413, "the request body is too large")(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await errors.error_response(413, "the request body is too large")(
                    scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return whole
            return await receive()

        await self.app(scope, replay, send)
