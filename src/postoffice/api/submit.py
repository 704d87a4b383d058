"""Handing a prepared message to the intake: suppressed recipients left out (each with a
`suppressed` event), local ones delivered, the rest queued (from `send_at` when scheduled)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.models import MessageAccepted, RecipientStatus
from postoffice.api.sending import Prepared
from postoffice.message.envelope import Recipient
from postoffice.storage.interfaces import (
    Acceptance,
    PendingBlob,
    StorageError,
)
from postoffice.storage.suppressions import Suppression, address_key

log = logging.getLogger("postoffice.api")
TURN_EVERY = 20
"""Messages of a batch staged between two turns of the event loop."""


async def _routed(context: ApiContext, ready: Prepared, barred: Mapping[str, Suppression],
                  ) -> tuple[list[str], list[Recipient], list[RecipientStatus],
                             list[tuple[str, Suppression]]]:
    """(local mailboxes, remote recipients, the status of each address, the suppressed
    ones with their suppression) of a message about to be accepted."""
    local: list[str] = []
    relay: list[Recipient] = []
    statuses = []
    left_out: list[tuple[str, Suppression]] = []
    for address in ready.recipients:
        if (found := barred.get(address_key(address))) is not None:
            left_out.append((address, found))
            statuses.append(RecipientStatus(address=address, status="suppressed"))
            continue
        here, there = await context.intake.route_address(address)
        local += here
        relay += there
        statuses.append(RecipientStatus(address=address,
                                        status="delivered" if here else "queued"))
    return local, relay, statuses, left_out


async def submit(context: ApiContext, tenant: str, ready: Prepared, *, category: str,
                 metadata: Mapping[str, str], barred: Mapping[str, Suppression],
                 send_at: float | None = None, track_opens: bool = False,
                 track_clicks: bool = False, unsubscribe: bool = False) -> MessageAccepted:
    """Raises ApiError (422 for a scheduled message to a local mailbox, 503 when the store
    fails: nothing was accepted then)."""
    local, relay, statuses, left_out = await _routed(context, ready, barred)
    if local and send_at is not None:
        raise ApiError(422, "send_at: scheduled sending reaches remote recipients only",
                       field="send_at")
    try:
        # Also when every recipient is suppressed: the message is in the log, with its events.
        pending, acceptance = context.intake.stage(
            ready.content, mail_from=ready.mail_from, local=tuple(dict.fromkeys(local)),
            relay=tuple(relay), source="api", lane=ready.lane, tenant=tenant,
            smtputf8=ready.smtputf8, subject=ready.subject, category=category,
            metadata=json.dumps(dict(metadata), ensure_ascii=False),
            header_id=ready.message_id, not_before=send_at, track_opens=track_opens,
            track_clicks=track_clicks, unsubscribe=unsubscribe, suppressed=tuple(left_out))
        queue_id = await context.intake.commit_staged(pending, acceptance,
                                                      via=context.commit_one)
    except StorageError:
        raise ApiError(503, "the message could not be stored; try again") from None
    return MessageAccepted(id=queue_id, message_id=ready.message_id, recipients=statuses)


async def submit_many(context: ApiContext, tenant: str,
                      items: Sequence[tuple[Prepared, Mapping[str, str]]], *, category: str,
                      barred: Mapping[str, Suppression], send_at: float | None = None,
                      unsubscribe_fields: bool | None = None, track_opens: bool = False,
                      track_clicks: bool = False) -> list[MessageAccepted | ApiError]:
    """`submit` for many messages (with their metadata), each with its own outcome: handed
    to the store as one job (`context.commit_many`), so they share its group commits; each
    message is staged by the intake as `inject` does. `unsubscribe_fields`, when the caller
    knows it for every message (the same extra header fields), spares the look at each
    message's header. Without `commit_many`: one `submit` each."""
    if context.commit_many is None:
        async def one(ready: Prepared, metadata: Mapping[str, str]) -> MessageAccepted | ApiError:
            try:
                return await submit(context, tenant, ready, category=category,
                                    metadata=metadata, barred=barred, send_at=send_at,
                                    track_opens=track_opens, track_clicks=track_clicks,
                                    unsubscribe=bool(unsubscribe_fields))
            except ApiError as error:
                return error
        return list(await asyncio.gather(*(one(r, m) for r, m in items)))

    outcomes: list[MessageAccepted | ApiError | None] = [None] * len(items)
    staged: list[tuple[int, PendingBlob, Acceptance, list[RecipientStatus]]] = []
    try:
        for index, (ready, metadata) in enumerate(items):
            if index % TURN_EVERY == TURN_EVERY - 1:
                await asyncio.sleep(0)  # what is ready runs (a single send's next step)
            local, relay, statuses, barred_here = await _routed(context, ready, barred)
            if local and send_at is not None:
                outcomes[index] = ApiError(
                    422, "send_at: scheduled sending reaches remote recipients only",
                    field="send_at")
                continue
            try:
                pending, acceptance = context.intake.stage(
                    ready.content, mail_from=ready.mail_from, local=tuple(dict.fromkeys(local)),
                    relay=tuple(relay), source="api", lane=ready.lane, tenant=tenant,
                    smtputf8=ready.smtputf8, subject=ready.subject, category=category,
                    metadata=json.dumps(dict(metadata), ensure_ascii=False),
                    header_id=ready.message_id, not_before=send_at,
                    unsubscribe_decided=unsubscribe_fields, track_opens=track_opens,
                    track_clicks=track_clicks, suppressed=tuple(barred_here))
            except StorageError:
                outcomes[index] = ApiError(503, "the message could not be stored; try again")
                continue
            staged.append((index, pending, acceptance, statuses))
    except BaseException:
        for _, pending, _, _ in staged:
            context.intake.discard(pending)
        raise
    if not staged:
        return [o if o is not None else ApiError(500, "not stored") for o in outcomes]
    try:
        errors = await context.commit_many([(p, a) for _, p, a, _ in staged])
    except StorageError:  # the store is closed: nothing of this call was stored
        errors = [StorageError("the store is closed")] * len(staged)
    committed: dict[int, str] = {}
    for (index, _, acceptance, statuses), error in zip(staged, errors, strict=True):
        message = acceptance.message
        if error is None:
            committed[index] = message.id
            outcomes[index] = MessageAccepted(id=message.id, message_id=message.header_id,
                                              recipients=statuses)
        elif isinstance(error, StorageError):
            outcomes[index] = ApiError(503, "the message could not be stored; try again")
        else:
            raise error
    context.intake.injected([a for i, _, a, _ in staged if i in committed])
    return [o if o is not None else ApiError(500, "not stored") for o in outcomes]
