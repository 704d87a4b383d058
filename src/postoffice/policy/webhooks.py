"""Webhooks: which events a subscription takes, what a delivery's body and signature are,
when a failed delivery is tried again, and which URLs and addresses may be called.

The signature header is `X-Postoffice-Signature: t=<unix time>,v1=<hex>`, where hex is
HMAC-SHA256 under the webhook's secret (its UTF-8 bytes) of `f"{t}.{body}"` (docs/api.md)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

EVENT_TYPES: Final = ("accepted", "queued", "signed", "delivered", "deferred", "bounced",
                      "complained", "unsubscribed", "opened", "clicked", "suppressed")
"""The event types a webhook may subscribe to ("*": all of them, and any added later)."""
TEST_EVENT: Final = "test"
"""The type of the event `POST /v1/webhooks/{id}/test` sends (to that webhook only)."""
ALL: Final = "*"
MAX_URL: Final = 2000
SIGNATURE_HEADER: Final = "X-Postoffice-Signature"
EVENT_HEADER: Final = "X-Postoffice-Event"
FIRST_RETRY: Final = 30.0
"""Seconds before the second attempt; the pause doubles after each failure..."""
MAX_RETRY: Final = 3600.0
"""... up to this."""


@dataclass(frozen=True)
class Backoff:
    """When a delivery that failed is tried again, and when it is given up."""

    first: float = FIRST_RETRY
    """Seconds after the first failed attempt."""
    longest: float = MAX_RETRY
    """The longest pause between two attempts."""
    retry_for: float = 86400.0
    """Seconds after the delivery was made (its event fanned out) past which it has failed."""

    def next_attempt(self, created_at: float, attempts: int, now: float) -> float | None:
        """When to try again after `attempts` failed attempts; None: give up."""
        pause = min(self.longest, self.first * 2 ** min(max(attempts - 1, 0), 30))
        when = now + pause
        return None if when > created_at + self.retry_for else when


def new_secret() -> str:
    """A webhook's signing secret: shown once, kept as it is (it is needed to sign)."""
    return "whsec_" + secrets.token_urlsafe(32)


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """The subscription as stored (["*"] or known types, each once, in order); ValueError
    naming the index of a bad entry ("1: unknown event type ...")."""
    if not events:
        raise ValueError("at least one event type (or \"*\" for all)")
    if ALL in events:
        if len(events) > 1:
            raise ValueError(f"{events.index(ALL)}: \"*\" takes every type; give it alone")
        return (ALL,)
    for index, name in enumerate(events):
        if name not in EVENT_TYPES:
            raise ValueError(f"{index}: unknown event type {name[:40]!r} (one of "
                             f"{', '.join(EVENT_TYPES)}, or \"*\")")
    return tuple(dict.fromkeys(events))


def subscribed(events: Iterable[str], event_type: str) -> bool:
    return any(e == ALL or e == event_type for e in events)


def check_url(url: str) -> str:
    """A URL a webhook may call: http or https, a host, no user name or password, at most
    MAX_URL characters, no spaces or control characters. ValueError says what is wrong."""
    if len(url) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url) or not url.isascii():
        raise ValueError("no spaces, control or non-ASCII characters (percent-encode them)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("port 0")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return url


def public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    shared, multicast or reserved): where webhooks may go unless `allow_private` is set."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def event_document(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as a webhook receives it: the log's fields, without the tenant."""
    keys = ("type", "at", "message_id", "recipient", "detail", "category", "ip", "mx")
    return {key: event.get(key, "") for key in keys}


def body(delivery_id: int, webhook_id: int, event: Mapping[str, Any]) -> bytes:
    """The JSON body POSTed for one delivery."""
    document = {"id": delivery_id, "webhook_id": webhook_id, "event": event_document(event)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The X-Postoffice-Signature value of `payload` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, payload: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver does: the header's v1 matches and its t is within `tolerance`."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    timestamp, given = fields.get("t", ""), fields.get("v1", "")
    if not _DIGITS.fullmatch(timestamp) or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), payload).partition(",v1=")[2]
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


_DIGITS: Final = re.compile(r"[0-9]{1,12}")
"""A timestamp as the signer writes it (ASCII digits; not "²", not 5,000 digits)."""
