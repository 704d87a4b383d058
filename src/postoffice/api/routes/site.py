"""What the http listener serves outside /v1: a health check and the MTA-STS policy of our
domains (Host mta-sts.<local domain>, RFC 8461 3.3; HTTPS belongs in front of it)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from postoffice import __version__
from postoffice.api.context import ApiContext
from postoffice.api.errors import error_response
from postoffice.storage.interfaces import Store

router = APIRouter(include_in_schema=False)


@router.api_route("/healthz", methods=["GET", "HEAD"])
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


@router.api_route("/.well-known/mta-sts.txt", methods=["GET", "HEAD"])
async def mta_sts(request: Request) -> Response:
    context: ApiContext = request.app.state.context
    host = request.headers.get("host", "").lower()
    host = host.rsplit(":", 1)[0] if "]" not in host else host
    prefix, _, domain = host.rstrip(".").partition(".")
    if prefix == "mta-sts" and domain and await context.run(_is_local, domain):
        # RFC 8461 3.2: media type text/plain (the policy is ASCII; no charset parameter)
        return Response(context.mta_sts_policy.encode(), headers={"Content-Type": "text/plain"})
    return error_response(404, f"no MTA-STS policy for {host[:200]!r}")


def _is_local(store: Store, domain: str) -> bool:
    return store.is_local_domain(domain)
