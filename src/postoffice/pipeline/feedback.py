"""The feedback loop: bounces and complaints that come back, and failures at delivery, become
events on the message they are about and suppress the addresses they condemn.

Which message: a VERP return path (the RCPT, or the Return-Path of the returned message)
names it and its queue item; else the returned message's Message-ID is looked up in the
message log. Which recipient: the one the report names when it is a recipient of that
message, else the queue item's. A bounce found by Message-ID alone counts only when it went
to the message's own sender (a recipient cannot suppress another by mailing us a fake one)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from postoffice.clock import Clock
from postoffice.config import FeedbackSettings
from postoffice.message.reports import ReportKind, returned_message
from postoffice.policy.bounces import ClassifiedRecipient, Reason, classify_message
from postoffice.policy.recipients import split_address
from postoffice.policy.verp import VerpToken
from postoffice.storage.interfaces import DeliveryOutcome, QueueItem, StorageError
from postoffice.storage.suppressions import (
    Bounce,
    ComplaintReport,
    MessageTarget,
    SoftBounceRule,
)

log = logging.getLogger("postoffice.feedback")
DEFAULT_LOCAL = "fbl"
"""The complaints address is fbl@<first local domain> unless configured."""
Call = Callable[..., Awaitable[Any]]
"""`await call("method", *args)` runs that Store method on the store's thread."""


class Feedback:
    def __init__(self, settings: FeedbackSettings, *, call: Call, clock: Clock,
                 token: Callable[[str], VerpToken | None] | None = None) -> None:
        self.settings = settings
        self.rule = SoftBounceRule(settings.soft_bounces_in_a_row, settings.soft_bounce_days)
        """When soft bounces suppress an address."""
        self._call = call
        self._clock = clock
        self._token = token
        self._default: tuple[float, str] | None = None

    async def complaints_address(self) -> str:
        """`[feedback] complaints_address`, else fbl@ the first local domain ("" without one;
        looked up again after a minute)."""
        if self.settings.complaints_address:
            return self.settings.complaints_address.lower()
        now = time.monotonic()
        if self._default is None or self._default[0] < now:
            domains = await self._call("list_domains")
            self._default = (now + 60.0, f"{DEFAULT_LOCAL}@{domains[0].name}" if domains else "")
        return self._default[1]

    async def is_complaints_address(self, address: str) -> bool:
        """Whether RCPT `address` is the complaints address (no store call for addresses
        that cannot be)."""
        address = address.lower()
        configured = self.settings.complaints_address
        if configured:
            return address == configured.lower()
        if address.partition("@")[0] != DEFAULT_LOCAL:
            return False
        try:
            return address == await self.complaints_address()
        except StorageError:
            return False

    # -- mail that came back --------------------------------------------------------------

    async def received(self, content: bytes, *, tokens: Sequence[VerpToken], local: Sequence[str],
                       to_complaints: bool) -> int:
        """Read a message that came in to a return path (`tokens`), to the complaints address,
        or with a null sender to `local` mailboxes; record what it reports. Returns the number
        of events written."""
        feedback = classify_message(content)
        if feedback.kind not in (ReportKind.BOUNCE, ReportKind.DELAY, ReportKind.COMPLAINT):
            return 0
        target, trusted = await self._target(content, tokens)
        if target is None:
            return 0
        if not trusted and feedback.kind is not ReportKind.COMPLAINT and not any(
                a.lower() == target.mail_from.lower() for a in local):
            return 0
        if feedback.kind is ReportKind.COMPLAINT:
            if not (to_complaints or tokens):
                return 0
            kind = feedback.complaint.feedback_type if feedback.complaint else "abuse"
            agent = feedback.complaint.user_agent if feedback.complaint else None
            detail = f"{kind} report" + (f" from {agent}" if agent else "")
            addresses = _matched([r.address for r in feedback.recipients], target)
            reports = [ComplaintReport(target.tenant, target.message_id, a, detail,
                                       self._clock.now(), target.category) for a in addresses]
            made = await self._call("record_complaints", reports)
            log.info("complaint about id=%s from %s: %d suppressed", target.message_id,
                     ",".join(addresses) or "-", len(made))
            return len(reports)
        bounces = []
        by_address = {r.address.lower(): r for r in feedback.recipients}
        for address in _matched(list(by_address), target):
            found = by_address.get(address.lower()) or next(iter(by_address.values()), None)
            bounces.append(self._bounce(target, address, found))
        made = await self._call("record_bounces", bounces, self.rule)
        log.info("bounce for id=%s: %s; %d suppressed", target.message_id,
                 ", ".join(f"{b.recipient} {b.reason}{' hard' if b.hard else ''}"
                           for b in bounces) or "-", len(made))
        return len(bounces)

    def _bounce(self, target: MessageTarget, address: str,
                found: ClassifiedRecipient | None) -> Bounce:
        now = self._clock.now()
        if found is None:
            return Bounce(target.tenant, target.message_id, address, False, Reason.OTHER,
                          "bounce without a readable reason", now, target.category)
        parts = [str(found.reply_code or ""), found.status or "", found.diagnostic or ""]
        detail = " ".join(p for p in parts if p) or found.action
        return Bounce(target.tenant, target.message_id, address, found.hard, found.reason,
                      detail[:1000], now, target.category, delayed=found.action == "delayed")

    async def _target(self, content: bytes,
                      tokens: Sequence[VerpToken]) -> tuple[MessageTarget | None, bool]:
        """The message reported on, and whether a VERP token (not a Message-ID) named it."""
        returned = returned_message(content)
        candidates = list(tokens)
        if returned.return_path and self._token is not None:
            quoted = self._token(returned.return_path)
            if quoted is not None:
                candidates.append(quoted)
        for token in candidates:
            target = await self._call("message_target", token.message_id or "", token.item)
            if target is not None:
                return target, True
        if returned.message_id:
            return await self._call("message_by_header_id", returned.message_id), False
        return None, False

    # -- failures at delivery -------------------------------------------------------------

    def failures(self, items: Sequence[QueueItem],
                 outcomes: Sequence[DeliveryOutcome]) -> list[Bounce]:
        """The bounces of a finished delivery batch's failures (their `bounced` events are
        written by the outcomes): `Store.complete` suppresses what they condemn in the same
        transaction, so no crash between the two can lose a suppression."""
        by_id = {item.id: item for item in items}
        return [
            Bounce(item.tenant, item.message_id, item.recipient, o.hard, o.reason, o.detail,
                   o.at, logged=True)
            for o in outcomes if o.kind == "failed" and o.reason
            and (item := by_id.get(o.item_id)) is not None
        ]


def _matched(reported: list[str], target: MessageTarget) -> list[str]:
    """The reported addresses that are recipients of the message; else the queue item's
    recipient, or the message's only one."""
    recipients = {r.lower(): r for r in target.recipients}
    found = [recipients[a.lower()] for a in reported if a.lower() in recipients]
    if found:
        return list(dict.fromkeys(found))
    if target.item_recipient:
        return [target.item_recipient]
    if len(target.recipients) == 1 and split_address(target.recipients[0])[1]:
        return [target.recipients[0]]
    return []
