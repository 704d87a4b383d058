"""From a POST /v1/messages body to the octets, envelope and lane that go into the queue.

Structured bodies are composed (message/compose.py); raw ones are taken as written but for a
Date and Message-ID added when missing and Bcc removed. Either way the author's domain must be
one of the tenant's: a key of one tenant never sends as another."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from email.utils import formatdate

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.models import MessageIn
from postoffice.message import headers, unique
from postoffice.message.compose import Attachment, ComposeError, Draft, compose
from postoffice.message.fields import drop_fields
from postoffice.message.mime import decode_words
from postoffice.policy.lanes import choose_lane
from postoffice.storage.interfaces import Store

STRUCTURED = ("from_", "to", "cc", "bcc", "reply_to", "subject", "text", "html",
              "attachments", "headers")


@dataclass(frozen=True)
class Prepared:
    content: bytes
    mail_from: str
    recipients: tuple[str, ...]
    lane: str
    smtputf8: bool
    subject: str
    message_id: str


def prepare(context: ApiContext, body: MessageIn) -> Prepared:
    """The message a body describes (its sender not checked yet: `sender_allowed`)."""
    prepared = _raw(body, context) if body.raw is not None else composed(body, context)
    if len(prepared.content) > context.max_body:
        raise ApiError(413, "the message is too large")
    return prepared


async def check_sender(context: ApiContext, tenant: str, mail_from: str) -> None:
    """403 unless the address is in one of the tenant's domains."""
    sender_allowed(await context.run(sender_owner, mail_from), tenant, mail_from)


def sender_owner(store: Store, mail_from: str) -> str | None:
    """The tenant owning the address's domain."""
    return store.domain_tenant(mail_from.rpartition("@")[2])


def sender_allowed(owner: str | None, tenant: str, mail_from: str) -> None:
    """403 unless `owner` (of the address's domain) is the tenant."""
    if owner != tenant:
        raise ApiError(403, f"{mail_from.rpartition('@')[2]} is not a sending domain of this"
                       " tenant", code="sender_not_allowed", field="from")


def composed(body: MessageIn, context: ApiContext, *, mail_from: str | None = None,
             lane: str | None = None) -> Prepared:
    """The message a structured body describes; ApiError (422) naming a bad field.
    `mail_from` and `lane`, when known already (a batch), are not worked out again."""
    if body.from_ is None:
        raise ApiError(422, "from: required", field="from")
    attachments = attachments_of(body)
    draft = Draft(from_=body.from_, to=tuple(body.to), cc=tuple(body.cc), bcc=tuple(body.bcc),
                  reply_to=tuple(body.reply_to), subject=body.subject, text=body.text,
                  html=body.html, attachments=attachments,
                  headers=tuple(body.headers.items()))
    try:
        made = compose(draft, hostname=context.hostname)
    except ComposeError as error:
        raise ApiError(422, str(error), field=_api_field(error.field)) from None
    if mail_from is None:
        author = headers.mailbox_addresses(body.from_)
        mail_from = author[0] if author else body.from_
    if lane is None:
        head = made.content[:headers.header_end(made.content)]
        lane = lane_of(body, headers.parse_fields(head))
    return Prepared(made.content, mail_from.lower(), made.envelope_to, lane, made.smtputf8,
                    " ".join(body.subject.split())[:300], made.message_id)


def compose_prepared(draft: Draft, *, hostname: str, mail_from: str, lane: str) -> Prepared:
    """`draft` composed, when the author and lane are known already (the messages of a
    batch); ApiError (422) naming a bad field."""
    try:
        made = compose(draft, hostname=hostname)
    except ComposeError as error:
        raise ApiError(422, str(error), field=_api_field(error.field)) from None
    return Prepared(made.content, mail_from.lower(), made.envelope_to, lane, made.smtputf8,
                    " ".join(draft.subject.split())[:300], made.message_id)


def _raw(body: MessageIn, context: ApiContext) -> Prepared:
    extra = [name for name in STRUCTURED if name != "from_" and getattr(body, name)
             and name not in ("to", "cc", "bcc")]
    if extra:
        raise ApiError(422, f"{extra[0]}: not allowed with raw", field=extra[0])
    assert body.raw is not None
    content = _base64(body.raw, "raw").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    end = headers.header_end(content)
    if end <= 0:
        raise ApiError(422, "raw: no header section", field="raw")
    fields = headers.parse_fields(content[:end])
    authors = headers.mailbox_addresses(" ".join(headers.field_values(fields, "from")))
    if not authors or len(authors) != 1:
        raise ApiError(422, "raw: needs one From address", field="raw")
    recipients = [*body.to, *body.cc, *body.bcc]
    if not recipients:
        for name in ("to", "cc", "bcc"):
            for value in headers.field_values(fields, name):
                found = headers.mailbox_addresses(value)
                if found is None:
                    raise ApiError(422, f"raw: unreadable {name.title()} field", field="raw")
                recipients += found
    envelope = []
    for i, address in enumerate(recipients):
        parsed = headers.mailbox_addresses(address)
        if parsed is None or len(parsed) != 1:
            raise ApiError(422, f"to[{i}]: not an address", field=f"to[{i}]")
        envelope.append(parsed[0])
    if not envelope:
        raise ApiError(422, "no recipients", field="to")
    added = b""
    if not headers.field_values(fields, "date"):
        added += f"Date: {formatdate(time.time(), localtime=True)}\r\n".encode()
    message_ids = headers.field_values(fields, "message-id")
    message_id = message_ids[0].strip() if message_ids else \
        f"<{unique.sortable_token(context.clock.now())}@{context.hostname}>"
    if not message_ids:
        added += f"Message-ID: {message_id}\r\n".encode()
    content = added + drop_fields(content, lambda field: field.is_named("bcc"))
    subject = " ".join(decode_words(" ".join(headers.field_values(fields, "subject"))).split())
    smtputf8 = any(not a.isascii() for a in [authors[0], *envelope])
    return Prepared(content, authors[0].lower(), tuple(dict.fromkeys(envelope)),
                    lane_of(body, fields), smtputf8, subject[:300], message_id)


def lane_of(body: MessageIn, fields: list[tuple[str, str]]) -> str:
    """The lane asked for, else the one the header fields call for."""
    if body.lane is not None:
        return body.lane
    try:
        return choose_lane(fields, {}, body.category or None)
    except ValueError as error:
        raise ApiError(422, str(error), field="headers") from None


def attachments_of(body: MessageIn) -> tuple[Attachment, ...]:
    """The attachments of a structured body, decoded; ApiError (422) for bad base64."""
    return tuple(
        Attachment(a.filename, _base64(a.content, f"attachments[{i}].content"),
                   a.content_type or "", a.content_id)
        for i, a in enumerate(body.attachments))


def _base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field}: not valid base64", field=field) from None


def _api_field(field: str) -> str:
    return "from" if field == "from_" else field

