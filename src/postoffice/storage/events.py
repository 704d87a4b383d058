"""The message log and the event log: records and the Store methods that read them.

Events are written by the store itself where the step happens (acceptance, delivery outcomes)
and by `record_events` for the rest (suppressions, complaints, opens, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Event:
    at: float
    tenant: str
    message_id: str
    type: str
    """accepted, queued, delivered, deferred, bounced, complained, unsubscribed, opened,
    clicked, suppressed, ..."""
    recipient: str = ""
    detail: str = ""
    """The remote reply, or why."""
    category: str = ""
    provider: str = ""
    ip: str = ""
    mx: str = ""
    reason: str = ""
    """For failures and complaints: the reason class (policy/bounces.py: user_unknown,
    mailbox_full, ...; "complaint")."""
    bounce: str = ""
    """For bounced events: "hard" (the address is bad) or "soft"."""
    id: int = 0
    """Set when read back: the order of events."""


@dataclass(frozen=True)
class LoggedMessage:
    """One message as the log shows it."""

    id: str
    tenant: str
    received_at: float
    source: str
    mail_from: str
    subject: str
    category: str
    metadata: str
    """A JSON object."""
    size: int
    blob: str
    recipients: tuple[tuple[str, str], ...] = ()
    """(address, status) of each remote recipient: queued, delivered, deferred, failed, held."""


@dataclass(frozen=True)
class LogQuery:
    """Which messages a search returns (all given must match), newest first."""

    recipient: str | None = None
    sender: str | None = None
    subject: str | None = None
    """A substring of the subject (case-insensitive)."""
    category: str | None = None
    status: str | None = None
    """A recipient status (queued, delivered, deferred, failed, held)."""
    since: float | None = None
    until: float | None = None
    before_id: str | None = None
    """For paging: only messages older than this id."""
    limit: int = 100


class EventStore(Protocol):
    def record_events(self, events: Sequence[Event]) -> None: ...
    def message_events(self, tenant: str, message_id: str) -> list[Event]:
        """The message's events in order; [] when the message is another tenant's."""
        ...
    def logged_message(self, tenant: str, message_id: str) -> LoggedMessage | None: ...
    def search_messages(self, tenant: str, query: LogQuery) -> list[LoggedMessage]: ...
