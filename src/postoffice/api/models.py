"""The API's request and response bodies (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from postoffice.policy import categories

MAX_RECIPIENTS = 1000
MAX_ATTACHMENTS = 100


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(description="The file, base64-encoded")
    content_type: str | None = Field(None, max_length=255)
    content_id: str | None = Field(None, max_length=255,
                                   description="Set: an inline image the HTML refers to as cid:...")


class MessageIn(Strict):
    from_: str | None = Field(None, alias="from", max_length=998,
                              description='"addr@example.com" or "Name <addr@example.com>"')
    to: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    cc: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    reply_to: list[str] = Field(default_factory=list, max_length=50)
    subject: str = Field("", max_length=998)
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)
    category: str = Field("", max_length=categories.MAX_LENGTH, pattern=categories.PATTERN)
    lane: Literal["transactional", "bulk"] | None = None
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)
    send_at: float | None = Field(None, ge=0, le=1e11, description="Unix time to send at "
                                  "(at most 7 days ahead); default: now")
    track_opens: bool = Field(False, description="Count opens: a 1x1 image in the HTML, "
                              "per recipient (docs/api.md, Open and click tracking)")
    track_clicks: bool = Field(False, description="Count clicks: the HTML's http(s) links go "
                               "through a redirect, per recipient")
    unsubscribe: bool = Field(False, description="Give a transactional message List-Unsubscribe "
                              "(one-click) too; bulk mail always gets it (docs/api.md, "
                              "Unsubscribe)")
    raw: str | None = Field(None, description="A whole MIME message, base64-encoded, instead "
                            "of the fields above; the envelope recipients are to, cc and bcc "
                            "when given, else the message's To, Cc and Bcc")


class RecipientStatus(BaseModel):
    address: str
    status: Literal["queued", "suppressed", "delivered"]


class MessageAccepted(BaseModel):
    id: str
    message_id: str = Field(description="The Message-ID field of the message")
    recipients: list[RecipientStatus]


class EventOut(BaseModel):
    type: str
    at: float
    recipient: str
    detail: str
    ip: str
    mx: str
    reason: str = Field("", description="For failures: the reason class (user_unknown, "
                        "mailbox_full, ...); complaint; a suppression's reason")
    bounce: str = Field("", description='For bounced events: "hard" or "soft"')


class MessageOut(BaseModel):
    id: str
    received_at: float
    source: str
    mail_from: str
    subject: str
    category: str
    metadata: dict[str, str]
    size: int
    recipients: list[dict[str, str]]


class MessageDetail(MessageOut):
    events: list[EventOut]


class MessageList(BaseModel):
    messages: list[MessageOut]
    next_before: str | None = Field(None, description="Pass as before= for the next page")


class DomainIn(Strict):
    name: str = Field(min_length=1, max_length=253)


class DomainOut(BaseModel):
    name: str
    created_at: float


class ApiKeyIn(Strict):
    scope: Literal["send", "read", "admin"] = "send"
    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    id: str
    scope: str
    name: str
    created_at: float
    revoked_at: float | None
    last_used_at: float | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once only")
