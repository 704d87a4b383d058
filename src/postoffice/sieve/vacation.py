"""Vacation (RFC 5230): what the script asks for, and the rules for when not to answer.

The interpreter only answers a `Vacation` with everything the reply needs; the MDA decides
with `should_reply` and with its record of whom it answered under `key` in the last `days`."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

MIN_DAYS = 1
DEFAULT_DAYS = 7
LIST_HEADERS = frozenset({"list-id", "list-help", "list-subscribe", "list-unsubscribe",
                          "list-post", "list-owner", "list-archive"})
RECIPIENT_HEADERS = frozenset({"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"})


@dataclass(frozen=True)
class Vacation:
    reason: str
    """The reply body (a MIME entity when `mime`)."""
    days: int = DEFAULT_DAYS
    subject: str = ""
    """"" for the default ("Auto: " and the original subject)."""
    sender: str = ""
    """:from; "" for the user's own address."""
    addresses: tuple[str, ...] = ()
    """More addresses of the user (:addresses)."""
    mime: bool = False
    key: str = ""
    """Whom was answered is remembered per key: :handle, else a hash of reason, subject, from."""


def vacation_key(handle: str | None, reason: str, subject: str, sender: str) -> str:
    if handle is not None:
        return handle
    text = "\0".join((reason, subject, sender)).encode()
    return hashlib.sha256(text).hexdigest()


def should_reply(headers: Sequence[tuple[str, str]], envelope_from: str,
                 own: Collection[str]) -> bool:
    """Whether a vacation reply may go to `envelope_from` (RFC 5230 sections 4.5, 4.6):
    not to the null sender, a mailer daemon or list owner; not to automatic mail
    (Auto-Submitted other than "no"), list mail or bulk mail; not when none of the user's
    addresses `own` is a recipient; never to the user."""
    sender = envelope_from.lower()
    local = sender.rpartition("@")[0]
    mine = {address.lower() for address in own}
    if not sender or sender in mine or local == "mailer-daemon" or \
            local.startswith("owner-") or local.endswith("-request"):
        return False
    fields = {name.lower(): value.strip().lower() for name, value in headers}
    if fields.get("auto-submitted", "no") != "no" or LIST_HEADERS & fields.keys() or \
            fields.get("precedence") in ("bulk", "list", "junk"):
        return False
    recipients = getaddresses([value for name, value in headers
                               if name.lower() in RECIPIENT_HEADERS])
    return any(address.lower() in mine for _, address in recipients)
