"""POST /v1/messages/batch: one template (stored or inline), up to 1,000 recipients with their
own variables; each recipient becomes a message of its own with its own id. A recipient whose
message cannot be made (a variable missing, an address refused) is reported as rejected; the
others are sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from postoffice.api.auth import Sender
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError, ErrorDetail
from postoffice.api.idempotency import idempotent
from postoffice.api.limits import check_limits
from postoffice.api.models import AttachmentIn, MessageIn, Strict
from postoffice.api.routes.messages import scheduled
from postoffice.api.routes.suppressions import suppressed
from postoffice.api.sending import (
    Prepared,
    attachments_of,
    check_sender,
    compose_prepared,
    lane_of,
)
from postoffice.api.submit import submit_many
from postoffice.api.templating import RenderError, render
from postoffice.message import headers
from postoffice.message.compose import Attachment, Draft
from postoffice.pipeline.unsubscribe import gets_fields
from postoffice.policy import categories
from postoffice.storage.interfaces import StorageError, Store
from postoffice.storage.suppressions import Suppression
from postoffice.storage.templates import Template

router = APIRouter(prefix="/v1/messages", tags=["messages"])
MAX_BATCH = 1000
CHUNK = 100
"""Messages made, then handed to the store together (one job of the group committer)."""
SLICE = 10
"""Messages made between two turns of the event loop: making one takes some 100 µs of CPU,
and a single send waiting behind a batch must not wait long."""


class BatchRecipient(Strict):
    to: str = Field(max_length=998, description='"addr@example.com" or "Name <addr@...>"')
    variables: dict[str, Any] = Field(default_factory=dict, description="For the template")
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)


class BatchIn(Strict):
    from_: str = Field(alias="from", max_length=998)
    template: str | None = Field(None, max_length=100, description="A stored template's name")
    subject: str | None = Field(None, max_length=10_000, description="Inline template")
    text: str | None = Field(None, description="Inline template")
    html: str | None = Field(None, description="Inline template")
    reply_to: list[str] = Field(default_factory=list, max_length=50)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)
    category: str = Field("", max_length=categories.MAX_LENGTH, pattern=categories.PATTERN)
    lane: Literal["transactional", "bulk"] | None = None
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    send_at: float | None = Field(None, ge=0, le=1e11)
    track_opens: bool = False
    track_clicks: bool = False
    unsubscribe: bool = Field(False, description="List-Unsubscribe on transactional mail too")
    recipients: list[BatchRecipient] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    to: str
    id: str | None = None
    status: Literal["queued", "delivered", "suppressed", "rejected"]
    error: ErrorDetail | None = None


class BatchAccepted(BaseModel):
    messages: list[BatchResult]


@router.post("/batch", status_code=202, response_model=BatchAccepted,
             summary="Send one template to many recipients, a message each")
async def batch(body: BatchIn, caller: Sender, request: Request,
                idempotency_key: Annotated[str | None, Header(
                    alias="Idempotency-Key", max_length=255)] = None) -> JSONResponse:
    context: ApiContext = request.app.state.context

    async def handle() -> BatchAccepted:
        send_at = scheduled(body.send_at, context.clock.now())
        subject, text, html = await _sources(context, caller.tenant, body)
        author = headers.mailbox_addresses(body.from_)
        if not author or len(author) != 1:
            raise ApiError(422, "from: not one address", field="from")
        await check_sender(context, caller.tenant, author[0])
        await check_limits(context, caller.tenant, len(body.recipients))
        extra = [(name, value) for name, value in body.headers.items()]
        lane = lane_of(MessageIn.model_construct(lane=body.lane, category=body.category), extra)
        # The same for every message: their header fields differ only in those the composer
        # writes, and a List-Unsubscribe can only come from the extra ones.
        unsubscribe = gets_fields(extra, lane=lane, asked=body.unsubscribe, source="api")
        recipe = _Recipe(body.from_, subject, text, html, tuple(body.reply_to),
                         tuple(body.headers.items()), _attachments(body), author[0], lane,
                         context.hostname)
        chunks = [body.recipients[start:start + CHUNK]
                  for start in range(0, len(body.recipients), CHUNK)]
        making: list[asyncio.Future[list[Prepared | ErrorDetail]]] = []
        if context.render_pool is not None:
            # Every chunk goes to the render processes at once; they are stored in order.
            making = [asyncio.ensure_future(context.render_pool.run(
                make_chunk, recipe, i * CHUNK, [(r.to, r.variables) for r in chunk]))
                for i, chunk in enumerate(chunks)]
        results: list[BatchResult] = []
        # The next chunk is made while the one before is being stored.
        storing: asyncio.Future[list[BatchResult]] | None = None
        try:
            for i, chunk in enumerate(chunks):
                if making:
                    made = await making[i]
                else:
                    made = []
                    for at in range(0, len(chunk), SLICE):
                        # A slice at a time: the event loop serves other requests in
                        # between, single sends first.
                        await context.priority.turn()
                        made += make_chunk(recipe, i * CHUNK + at,
                                           [(r.to, r.variables) for r in chunk[at:at + SLICE]])
                if storing is not None:
                    results += await storing
                storing = asyncio.ensure_future(_submit_chunk(
                    context, caller.tenant, body, chunk, made, send_at, unsubscribe))
            assert storing is not None
            results += await storing
        finally:
            unfinished: list[asyncio.Future[Any]] = [*making]
            if storing is not None:
                unfinished.append(storing)
            for pending in unfinished:
                if not pending.done():
                    pending.cancel()
        return BatchAccepted(messages=results)

    return await idempotent(request, caller.tenant, 202, handle)


async def _sources(context: ApiContext, tenant: str,
                   body: BatchIn) -> tuple[str, str | None, str | None]:
    """The subject, text and HTML templates: the stored one named, or inline."""
    if body.template is not None:
        if any(v is not None for v in (body.subject, body.text, body.html)):
            raise ApiError(422, "subject: give a template or inline parts, not both",
                           field="subject")
        found: Template | None = await context.run(_template, tenant, body.template)
        if found is None:
            raise ApiError(422, f"template: no template {body.template}", field="template")
        return found.subject, found.text, found.html
    if body.text is None and body.html is None:
        raise ApiError(422, "text: a template, text or html is needed", field="text")
    return body.subject or "", body.text, body.html


async def _submit_chunk(context: ApiContext, tenant: str, body: BatchIn,
                        chunk: list[BatchRecipient], made: list[Prepared | ErrorDetail],
                        send_at: float | None, unsubscribe: bool) -> list[BatchResult]:
    addresses = [a for m in made if isinstance(m, Prepared) for a in m.recipients]
    try:
        barred: dict[str, Suppression] = await context.run(
            suppressed, tenant, addresses, body.category)
    except StorageError:
        raise ApiError(503, "the messages could not be stored; try again") from None
    ready = [(m, {**body.metadata, **r.metadata})
             for r, m in zip(chunk, made, strict=True) if isinstance(m, Prepared)]
    outcomes = iter(await submit_many(context, tenant, ready, category=body.category,
                                      barred=barred, send_at=send_at,
                                      unsubscribe_fields=unsubscribe,
                                      track_opens=body.track_opens,
                                      track_clicks=body.track_clicks))
    results = []
    for recipient, ready_or_error in zip(chunk, made, strict=True):
        if isinstance(ready_or_error, ErrorDetail):
            results.append(BatchResult(to=recipient.to, status="rejected", error=ready_or_error))
            continue
        outcome = next(outcomes)
        if isinstance(outcome, ApiError):
            results.append(BatchResult(to=recipient.to, status="rejected", error=ErrorDetail(
                code=outcome.code, message=outcome.message, field=outcome.field)))
            continue
        status = outcome.recipients[0].status if outcome.recipients else "rejected"
        results.append(BatchResult(to=recipient.to, id=outcome.id, status=status))
    return results


@dataclass(frozen=True)
class _Recipe:
    """What every message of a batch shares, worked out once (picklable: it goes to the
    render processes)."""

    from_: str
    subject: str
    text: str | None
    html: str | None
    reply_to: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    attachments: tuple[Attachment, ...] | ErrorDetail
    mail_from: str
    lane: str
    hostname: str


def _attachments(body: BatchIn) -> tuple[Attachment, ...] | ErrorDetail:
    try:
        return attachments_of(MessageIn.model_construct(attachments=body.attachments))
    except ApiError as error:
        return ErrorDetail(code=error.code, message=error.message, field=error.field)


def make_chunk(recipe: _Recipe, first: int,
               recipients: Sequence[tuple[str, dict[str, Any]]]) -> list[Prepared | ErrorDetail]:
    """The messages of recipients `first`, `first + 1`, ... (their addresses and variables),
    each made or the error naming its field. Runs in a render process or on the loop."""
    return [_message(recipe, first + i, to, variables)
            for i, (to, variables) in enumerate(recipients)]


def _message(recipe: _Recipe, index: int, to: str,
             variables: dict[str, Any]) -> Prepared | ErrorDetail:
    where = f"recipients[{index}]"
    if isinstance(recipe.attachments, ErrorDetail):
        return recipe.attachments
    try:
        parts = render(recipe.subject, recipe.text, recipe.html, {**variables})
        draft = Draft(from_=recipe.from_, to=(to,), reply_to=recipe.reply_to,
                      subject=parts.subject, text=parts.text, html=parts.html,
                      attachments=recipe.attachments, headers=recipe.headers)
        return compose_prepared(draft, hostname=recipe.hostname, mail_from=recipe.mail_from,
                                lane=recipe.lane)
    except RenderError as error:
        return ErrorDetail(code="invalid", message=f"{where}.variables: {error}",
                           field=f"{where}.variables")
    except ApiError as error:
        field = f"{where}.to" if error.field == "to[0]" else error.field
        return ErrorDetail(code=error.code, message=error.message, field=field)


def _template(store: Store, tenant: str, name: str) -> Template | None:
    return store.get_template(tenant, name)
