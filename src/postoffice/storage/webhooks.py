"""Webhooks: a tenant's subscriptions of URLs to event types, and their deliveries (one per
event and webhook, with every attempt): the records and the Store methods for them.

A webhook's secret is stored as it is (it signs every delivery) but is never part of a
`Webhook`: only `claim_webhook_deliveries` hands it out, to the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from postoffice.storage.events import Event


@dataclass(frozen=True)
class Webhook:
    """One subscription of a tenant."""

    id: int
    """Unique over the install (not per tenant)."""
    tenant: str
    """Whose events it receives."""
    url: str
    """Where they are POSTed (checked by policy/webhooks.py `check_url`)."""
    events: tuple[str, ...]
    """Event types it receives; ("*",) for all."""
    active: bool
    """An inactive webhook gets no new deliveries."""
    created_at: float
    """Unix time."""


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of a delivery."""

    at: float
    """When the request started (Unix time)."""
    status_code: int | None
    """The HTTP status of the answer; None when there was none (timeout, refused, ...)."""
    error: str
    """Why it did not count as delivered ("" when it did)."""
    duration: float
    """Seconds from the start of the request to its answer or failure."""


@dataclass(frozen=True)
class WebhookDelivery:
    """One event for one webhook, until it is delivered or given up."""

    id: int
    """Sent in the body as "id": the receiver's key against duplicates."""
    webhook_id: int
    """The webhook it goes to."""
    event_id: int | None
    """The event's id in the log; None for a test event."""
    event_type: str
    """The event's type ("test" for a test event)."""
    status: str
    """pending, delivered or failed (given up after the retry period)."""
    attempts: int
    """Attempts made so far."""
    next_attempt_at: float | None
    """When a pending delivery is tried next; None once it is delivered or failed."""
    last_status_code: int | None
    """The HTTP status of the last answer; None before any, or when the last had none."""
    last_error: str
    """Why the last attempt failed ("" when it did not)."""
    created_at: float
    """When the event was fanned out: the retry period counts from here."""
    delivered_at: float | None = None
    """When a 2xx answer came."""
    history: tuple[WebhookAttempt, ...] = ()
    """Its attempts, oldest first (filled by list_webhook_deliveries)."""


@dataclass(frozen=True)
class WebhookJob:
    """A claimed delivery with all the dispatcher needs to send it."""

    delivery_id: int
    """The delivery being sent (the body's "id")."""
    webhook_id: int
    """Its webhook (the body's "webhook_id")."""
    url: str
    """Where to POST it."""
    secret: str
    """The webhook's secret, to sign the body with."""
    event: Event
    """The event (a test event has id 0 and no message)."""
    attempts: int
    """Attempts made before this one."""
    created_at: float
    """When the delivery was made: it is given up `retry_for` after it."""


@dataclass(frozen=True)
class WebhookResult:
    """The outcome of one attempt, as the dispatcher decided it."""

    delivery_id: int
    """The delivery attempted."""
    attempt: WebhookAttempt
    """What happened (kept in the delivery's history)."""
    status: str
    """delivered, pending (tried again at next_attempt_at) or failed."""
    next_attempt_at: float | None = None
    """When to try again (status pending)."""


class WebhookStore(Protocol):
    def add_webhook(self, tenant: str, url: str, events: Sequence[str], secret: str) -> Webhook:
        """NotFound for an unknown tenant."""
        ...
    def get_webhook(self, tenant: str, webhook_id: int) -> Webhook | None:
        """None also when the webhook is another tenant's."""
        ...
    def list_webhooks(self, tenant: str) -> list[Webhook]: ...
    def update_webhook(self, tenant: str, webhook_id: int, *, url: str | None = None,
                       events: Sequence[str] | None = None,
                       active: bool | None = None) -> Webhook:
        """Change what is given. Deactivating fails the webhook's pending deliveries.
        NotFound unless the tenant has that webhook."""
        ...
    def set_webhook_secret(self, tenant: str, webhook_id: int, secret: str) -> None:
        """NotFound unless the tenant has that webhook."""
        ...
    def delete_webhook(self, tenant: str, webhook_id: int) -> None:
        """With its deliveries. NotFound unless the tenant has that webhook."""
        ...
    def add_test_delivery(self, tenant: str, webhook_id: int, now: float) -> WebhookDelivery:
        """A pending delivery of a "test" event, due now. NotFound as above."""
        ...
    def list_webhook_deliveries(self, tenant: str, webhook_id: int, *,
                                status: str | None = None, before_id: int | None = None,
                                limit: int = 50) -> list[WebhookDelivery]:
        """Newest first, with their attempts. NotFound as above."""
        ...

    # the dispatcher
    def fan_out_events(self, now: float, limit: int = 1000) -> int:
        """Make a pending delivery, due now, for every event after the cursor (at most
        `limit` events) and every active webhook of its tenant subscribed to its type; move
        the cursor past them. Returns how many events were looked at (0 when no webhook is
        active: the cursor then moves to the end of the log at once)."""
        ...
    def claim_webhook_deliveries(self, now: float, limit: int, lease: float) -> list[WebhookJob]:
        """Up to `limit` pending deliveries due at `now`, oldest due first, each put off to
        now + lease (so no other dispatcher takes it while it is being sent)."""
        ...
    def finish_webhook_deliveries(self, results: Sequence[WebhookResult]) -> None:
        """Record attempts and their outcomes (one transaction)."""
        ...
    def purge_webhook_deliveries(self, before: float) -> int:
        """Remove delivered and failed deliveries made before `before`; returns how many."""
        ...
