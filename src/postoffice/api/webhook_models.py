"""The request and response bodies of /v1/webhooks (they make its part of the OpenAPI
document)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from postoffice.api.models import Strict
from postoffice.policy.webhooks import EVENT_TYPES, MAX_URL

_EVENTS = (f"Event types: {', '.join(EVENT_TYPES)}; or [\"*\"] for every type (also those "
           "added later)")


class WebhookIn(Strict):
    url: str = Field(min_length=1, max_length=MAX_URL,
                     description="http:// or https://, without a user name or password")
    events: list[str] = Field(min_length=1, max_length=50, description=_EVENTS)


class WebhookPatch(Strict):
    url: str | None = Field(None, min_length=1, max_length=MAX_URL)
    events: list[str] | None = Field(None, min_length=1, max_length=50, description=_EVENTS)
    active: bool | None = Field(None, description="false: no new deliveries, and the pending "
                                "ones fail")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: float


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signs every delivery (X-Postoffice-Signature): shown "
                        "this once only; POST .../rotate-secret makes a new one")


class WebhookSecret(BaseModel):
    id: int
    secret: str = Field(description="The new secret, shown this once only; the old one "
                        "stops signing at once")


class AttemptOut(BaseModel):
    at: float
    status_code: int | None = Field(description="The answer's HTTP status; null: no answer")
    error: str
    duration: float = Field(description="Seconds")


class DeliveryOut(BaseModel):
    id: int = Field(description="The body's \"id\": the same in every attempt")
    event_id: int | None
    event_type: str
    status: str = Field(description="pending, delivered or failed")
    attempts: list[AttemptOut]
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str
    created_at: float
    delivered_at: float | None


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_before: int | None = Field(None, description="Pass as before= for the next page")
