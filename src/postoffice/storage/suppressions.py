"""Suppression lists and the feedback loop: the records and the Store methods for them.

A suppression keeps mail from reaching one address of one tenant: every category, or one.
Bounces and complaints are written as events on the message they are about and suppress the
address where they say so (a hard bounce, a complaint, soft bounces in a row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from postoffice.storage.addresses import normalize_address

REASONS = ("hard_bounce", "soft_bounce", "complaint", "unsubscribe", "manual")
"""Why an address is suppressed."""


@dataclass(frozen=True)
class Suppression:
    """One suppressed address of one tenant."""

    tenant: str
    """Whose list it is on."""
    address: str
    """The address, lower case."""
    reason: str
    """One of REASONS."""
    category: str = ""
    """"" suppresses every category; else only mail of this category."""
    detail: str = ""
    """Why, in words (the bounce's diagnostic, the complaint's feedback type, a note)."""
    source_message: str = ""
    """The message whose bounce or complaint made it ("" when added by hand)."""
    source_event: int = 0
    """The event that made it (0: none)."""
    created_at: float = 0.0
    """When it was made (0: now, when added)."""
    expires_at: float | None = None
    """When it ends (None: never; soft bounces expire)."""
    id: int = 0
    """Set when read back: the order of the list."""


@dataclass(frozen=True)
class SuppressionQuery:
    """Which suppressions a listing returns (all given must match), newest first."""

    address: str | None = None
    """The address (any case)."""
    reason: str | None = None
    """One of REASONS."""
    category: str | None = None
    """Only this scope ("" for the ones of every category)."""
    before_id: int | None = None
    """For paging: only suppressions older than this id."""
    limit: int = 100
    """At most this many (1 to 10,000)."""


@dataclass(frozen=True)
class Bounce:
    """A failed (or delayed) delivery to one recipient of one message, classified."""

    tenant: str
    """The message's tenant."""
    message_id: str
    """The message it is about."""
    recipient: str
    """The recipient that failed."""
    hard: bool
    """The address itself is bad: suppress it for good."""
    reason: str
    """The reason class (policy/bounces.py Reason)."""
    detail: str
    """The diagnostic: the remote reply or the bounce's text."""
    at: float
    """When it was learnt."""
    category: str = ""
    """The message's category."""
    delayed: bool = False
    """A delay notice: a `deferred` event only, nothing is counted or suppressed."""
    logged: bool = False
    """Its event exists already (the delivery outcome wrote it): only suppress."""


@dataclass(frozen=True)
class ComplaintReport:
    """A recipient complained (an ARF report) about one message."""

    tenant: str
    """The message's tenant."""
    message_id: str
    """The message complained about."""
    recipient: str
    """Who complained: the address suppressed."""
    detail: str
    """The feedback type (abuse, fraud, ...) and the reporter."""
    at: float
    """When the report arrived."""
    category: str = ""
    """The message's category."""


@dataclass(frozen=True)
class Unsubscribe:
    """A recipient unsubscribed: a one-click POST, or mail to the unsubscribe address."""

    tenant: str
    """Whose list the address goes on (the message's tenant)."""
    message_id: str
    """The message the link or address came in."""
    recipient: str
    """The address that unsubscribed."""
    category: str
    """The message's category."""
    every_category: bool
    """Suppress every category, not only `category`."""
    detail: str
    """How (one-click, mailto)."""
    at: float
    """When."""


@dataclass(frozen=True)
class SoftBounceRule:
    """When soft bounces suppress an address, and for how long."""

    in_a_row: int = 3
    """Soft bounces without a delivery between them that suppress (0: never)."""
    days: float = 3.0
    """How long such a suppression lasts."""


@dataclass(frozen=True)
class MessageTarget:
    """What the feedback loop needs of an earlier message."""

    tenant: str
    """The message's tenant."""
    message_id: str
    """Its id."""
    category: str
    """Its category."""
    mail_from: str
    """Its envelope sender as stored."""
    recipients: tuple[str, ...]
    """Its remote recipients (the queue), in order."""
    item_recipient: str = ""
    """The recipient of the queue item asked about ("" when none was asked or found)."""


def checked(item: Suppression, now: float) -> Suppression:
    """The suppression as stored: address lower case, creation time set. ValueError when the
    address or the reason is bad."""
    if item.reason not in REASONS:
        raise ValueError(f"unknown reason {item.reason!r} (one of {', '.join(REASONS)})")
    address = normalize_address(item.address)
    address.encode("utf-8")  # UnicodeEncodeError (a ValueError) for lone surrogates
    if any(c.isspace() or ord(c) < 32 or c in "<>,;\"" for c in address) or len(address) > 320:
        raise ValueError(f"not an address: {item.address!r}")
    if len(item.category) > 100 or any(c.isspace() for c in item.category):
        raise ValueError(f"bad category {item.category!r}")
    return Suppression(item.tenant, address, item.reason, item.category, item.detail[:500],
                       item.source_message, item.source_event, item.created_at or now,
                       item.expires_at)


def address_key(address: str) -> str:
    """How an address is looked up in a list: as stored when it is one, else lower case."""
    try:
        return normalize_address(address)
    except ValueError:
        return address.strip().lower()


class SuppressionStore(Protocol):
    def add_suppressions(self, items: Sequence[Suppression]) -> int:
        """Add or replace (same tenant, address and category); a suppression for good is
        not replaced by one that expires. ValueError for a bad address or reason. Returns
        how many were written."""
        ...
    def remove_suppression(self, tenant: str, address: str,
                           category: str | None = None) -> int:
        """Remove the address's suppressions (of one scope when `category` is given);
        NotFound when there were none. Returns how many were removed."""
        ...
    def list_suppressions(self, tenant: str, query: SuppressionQuery) -> list[Suppression]:
        """The tenant's suppressions in force (not expired), newest first."""
        ...
    def suppressed(self, tenant: str, addresses: Sequence[str],
                   category: str = "") -> dict[str, Suppression]:
        """Which of `addresses` may not get mail of `category` now: lower-cased address ->
        the suppression in force (one for every category comes first)."""
        ...
    def record_bounces(self, bounces: Sequence[Bounce],
                       rule: SoftBounceRule) -> list[Suppression]:
        """Write each bounce's event (type bounced, or deferred for a delay) and suppress what
        it says; returns the suppressions made."""
        ...
    def record_complaints(self, complaints: Sequence[ComplaintReport]) -> list[Suppression]:
        """Write a complained event per report and suppress the address for its tenant."""
        ...
    def record_unsubscribe(self, request: Unsubscribe) -> Suppression | None:
        """Suppress the address (reason unsubscribe, for good) and write an `unsubscribed`
        event on the message, in one transaction. None, writing nothing, when the address is
        suppressed for good in that scope already (a repeated request), or the message is
        another tenant's."""
        ...
    def message_target(self, message_id: str, item: int = 0) -> MessageTarget | None:
        """The message (and queue item `item`'s recipient) a return path names; None when
        it is unknown."""
        ...
    def message_by_header_id(self, header_id: str) -> MessageTarget | None:
        """The newest message whose Message-ID field is `header_id` (with brackets)."""
        ...
