"""/v1/messages: send one message, search the log, read one message's timeline and content."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from postoffice.api.auth import Reader, Sender
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.idempotency import idempotent
from postoffice.api.limits import Usage, usage, within_limits
from postoffice.api.models import (
    EventOut,
    MessageAccepted,
    MessageDetail,
    MessageIn,
    MessageList,
    MessageOut,
)
from postoffice.api.routes.suppressions import suppressed
from postoffice.api.sending import Prepared, prepare, sender_allowed, sender_owner
from postoffice.api.submit import submit
from postoffice.storage.events import Event, LoggedMessage, LogQuery
from postoffice.storage.interfaces import StorageError, Store
from postoffice.storage.suppressions import Suppression

router = APIRouter(prefix="/v1/messages", tags=["messages"])
MAX_SCHEDULE = 7 * 86400.0
"""How far ahead a message may be scheduled (seconds)."""
log = logging.getLogger("postoffice.api")


@router.post("", status_code=202, response_model=MessageAccepted,
             summary="Send one message")
async def send(body: MessageIn, caller: Sender, request: Request,
               idempotency_key: Annotated[str | None, Header(
                   alias="Idempotency-Key", max_length=255,
                   description="A retried call with the same key sends nothing again")] = None,
               ) -> JSONResponse:
    context: ApiContext = request.app.state.context

    async def handle() -> MessageAccepted:
        now = context.clock.now()
        send_at = scheduled(body.send_at, now)
        ready = prepare(context, body)
        # What the store must tell, in one trip to a store thread: each trip waits for a
        # turn of the thread and of the event loop, which a busy worker makes long.
        try:
            checks: _Checks = await (context.run_urgent or context.run)(
                _lookups, caller.tenant, ready, body.category, now)
        except StorageError:
            raise ApiError(503, "the message could not be stored; try again") from None
        owner, usage, barred = checks
        sender_allowed(owner, caller.tenant, ready.mail_from)
        within_limits(usage, len(ready.recipients), now)
        return await submit(context, caller.tenant, ready, category=body.category,
                            metadata=body.metadata, barred=barred, send_at=send_at,
                            track_opens=body.track_opens, track_clicks=body.track_clicks,
                            unsubscribe=body.unsubscribe)

    with context.priority.urgent():
        return await idempotent(request, caller.tenant, 202, handle)


_Checks = tuple[str | None, Usage, dict[str, Suppression]]


def _lookups(store: Store, tenant: str, ready: Prepared, category: str, now: float) -> _Checks:
    """The owner of the sender's domain, the tenant's sending limits and usage, and the
    suppressed recipients."""
    return (sender_owner(store, ready.mail_from), usage(store, tenant, now),
            suppressed(store, tenant, ready.recipients, category))


def scheduled(send_at: float | None, now: float) -> float | None:
    """The time to send at, or None for now; 422 when in the past or too far ahead."""
    if send_at is None or send_at <= now:
        if send_at is not None and send_at < now - 300:
            raise ApiError(422, "send_at: in the past", field="send_at")
        return None
    if send_at > now + MAX_SCHEDULE:
        raise ApiError(422, f"send_at: at most {MAX_SCHEDULE // 86400:.0f} days ahead",
                       field="send_at")
    return send_at


@router.get("", response_model=MessageList, summary="Search the message log")
async def search(caller: Reader, request: Request,
                 recipient: Annotated[str | None, Query(max_length=320)] = None,
                 sender: Annotated[str | None, Query(max_length=320)] = None,
                 subject: Annotated[str | None, Query(max_length=200)] = None,
                 category: Annotated[str | None, Query(max_length=100)] = None,
                 status: Annotated[str | None, Query(
                     pattern="^(queued|held|delivered|deferred|failed)$")] = None,
                 since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
                 until: Annotated[float | None, Query(ge=0, le=1e11)] = None,
                 before: Annotated[str | None, Query(max_length=64)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> MessageList:
    context: ApiContext = request.app.state.context
    query = LogQuery(recipient=recipient, sender=sender, subject=subject, category=category,
                     status=status, since=since, until=until, before_id=before, limit=limit)
    found: list[LoggedMessage] = await context.run(_search, caller.tenant, query)
    return MessageList(messages=[_out(m) for m in found],
                       next_before=found[-1].id if len(found) == limit else None)


@router.get("/{message_id}", response_model=MessageDetail,
            summary="One message and its events")
async def detail(message_id: str, caller: Reader, request: Request) -> MessageDetail:
    context: ApiContext = request.app.state.context
    found = await context.run(_detail, caller.tenant, message_id)
    if found is None:
        raise ApiError(404, f"no message {message_id}")
    message, events = found
    return MessageDetail(**_out(message).model_dump(), events=[
        EventOut(type=e.type, at=e.at, recipient=e.recipient, detail=e.detail, ip=e.ip, mx=e.mx,
                 reason=e.reason, bounce=e.bounce)
        for e in events])


@router.get("/{message_id}/raw", responses={
    200: {"content": {"message/rfc822": {}}, "description": "The message as stored"}},
    response_class=Response, summary="The message as stored")
async def raw(message_id: str, caller: Reader, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    content = await context.run(_content, caller.tenant, message_id)
    if content is None:
        raise ApiError(404, f"no message {message_id}")
    return Response(content, media_type="message/rfc822")


def _search(store: Store, tenant: str, query: LogQuery) -> list[LoggedMessage]:
    return store.search_messages(tenant, query)


def _detail(store: Store, tenant: str,
            message_id: str) -> tuple[LoggedMessage, list[Event]] | None:
    message = store.logged_message(tenant, message_id)
    return None if message is None else (message, store.message_events(tenant, message_id))


def _content(store: Store, tenant: str, message_id: str) -> bytes | None:
    message = store.logged_message(tenant, message_id)
    return None if message is None else store.blobs.read(message.blob)


def _out(message: LoggedMessage) -> MessageOut:
    try:
        metadata = json.loads(message.metadata)
    except ValueError:
        metadata = {}
    return MessageOut(
        id=message.id, received_at=message.received_at, source=message.source,
        mail_from=message.mail_from, subject=message.subject, category=message.category,
        metadata=metadata if isinstance(metadata, dict) else {}, size=message.size,
        recipients=[{"address": a, "status": s} for a, s in message.recipients])


def decode_base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field}: not valid base64", field=field) from None
