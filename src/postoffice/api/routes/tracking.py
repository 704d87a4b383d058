"""Open and click tracking on the http listener: `GET /t/o/<token>` (the pixel) and
`GET /t/c/<token>` (the redirect), outside /v1 and the OpenAPI document.

The token is verified without a lookup (policy/tracking.py); the event's tenant, category and
recipient come from the store (the message and its queue item), never from the request. Every
request with a good token is an event: machine opens (image proxies, link scanners) count too.
A store that cannot record it still gets the recipient their image or their page."""

from __future__ import annotations

import base64
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from postoffice.api.context import ApiContext
from postoffice.api.errors import error_response
from postoffice.policy import tracking
from postoffice.policy.tracking import TrackingToken
from postoffice.storage.events import Event
from postoffice.storage.interfaces import StorageError, Store

router = APIRouter(include_in_schema=False)
log = logging.getLogger("postoffice.api")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
"""A transparent 1x1 GIF (42 octets)."""
NO_STORE = {"Cache-Control": "no-store, private", "Pragma": "no-cache"}


@router.get("/t/o/{token}")
async def opened(token: str, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    found = _verified(context, token)
    if found is None or found.url is not None:
        return error_response(404, "no such image")
    await _record(context, found, "opened")
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/t/c/{token}")
async def clicked(token: str, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    found = _verified(context, token)
    if found is None or found.url is None:
        return error_response(404, "no such link")
    await _record(context, found, "clicked")
    return RedirectResponse(found.url, status_code=302, headers=NO_STORE)


def _verified(context: ApiContext, token: str) -> TrackingToken | None:
    if not context.tracking_secret:
        return None
    return tracking.decode(token, context.tracking_secret)


async def _record(context: ApiContext, token: TrackingToken, kind: str) -> None:
    try:
        if not await context.run(record, token, kind, context.clock.now()):
            log.info("%s: message %s item %d is no longer known", kind, token.message_id,
                     token.item)
    except StorageError as exc:
        log.error("%s event of id=%s not recorded: %s", kind, token.message_id, exc)


def record(store: Store, token: TrackingToken, kind: str, at: float) -> bool:
    """Record an `opened` or `clicked` event for the token's recipient, in the message's tenant
    and category, with the provider and source address of its delivery (so stats group opens
    and clicks like deliveries). False when the message or its queue item is gone."""
    target = store.message_target(token.message_id, token.item)
    if target is None or not target.item_recipient:
        return False
    recipient = target.item_recipient
    delivered = [e for e in store.message_events(target.tenant, token.message_id)
                 if e.type == "delivered" and e.recipient == recipient]
    last = delivered[-1] if delivered else None
    store.record_events([Event(
        at=at, tenant=target.tenant, message_id=token.message_id, type=kind,
        recipient=recipient, detail=token.url or "", category=target.category,
        provider=last.provider if last else "", ip=last.ip if last else "",
        mx=last.mx if last else "")])
    return True
