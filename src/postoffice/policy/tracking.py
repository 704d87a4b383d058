"""Open and click tracking tokens: the signed last segment of `/t/o/<token>` and `/t/c/<token>`.

A token names one recipient of one delivered message (the message id and the recipient's queue
item, as a VERP return path does) and, for a click, the link's target URL itself. It is signed
with a truncated HMAC-SHA256 under a secret derived from the install key, so the endpoints
verify it without a lookup, and a click redirects only to a URL that was in the message: a
forged or altered token (another URL, another recipient) does not decode, and the redirect
never becomes an open redirect. The queue item rather than the address keeps recipients'
addresses out of links they may forward.

Token format (version 1), base64url (RFC 4648 5) without padding:

    kind (1 octet: 1 = open, 2 = click)
    message id (26 octets, ASCII Crockford base32, as `storage.ids` makes them)
    item (8 octets, big-endian: the queue row id)
    url (click only: the rest of the payload, UTF-8; http or https, no control characters)
    mac: the first 16 octets of HMAC-SHA256(secret, "postoffice-tracking-1" NUL payload)

Decoding re-encodes and compares, so a token has exactly one spelling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAC_SIZE = 16
MAX_URL = 4000
"""Longer links are left as they are (a token must fit in a URL that mail clients keep)."""
_CONTEXT = b"postoffice-tracking-1\x00"
_KIND_OPEN = 1
_KIND_CLICK = 2
_ID_SIZE = 26
_ITEM_SIZE = 8
_MESSAGE_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}\Z")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
"""Characters a redirect target may not hold (white space included: an href's value is
trimmed, and a Location field must stay one line)."""


@dataclass(frozen=True)
class TrackingToken:
    """What a tracking link names."""

    message_id: str
    """The message's id (26 characters of Crockford base32, upper case)."""
    item: int
    """The queue row id of the recipient the link was made for (0 to 2**64 - 1)."""
    url: str | None = None
    """For a click: the link's target (http or https); None for an open."""


def tracking_secret(install_key: bytes) -> bytes:
    """The tracking secret, kept apart from other uses of the install's key."""
    return hmac.new(install_key, b"postoffice-tracking-1", hashlib.sha256).digest()


def trackable(url: str) -> bool:
    """Whether a link target may go into a click token: http(s), within MAX_URL, no control
    characters or white space."""
    head = url[:8].lower()
    return (head.startswith(("http://", "https://")) and len(url) <= MAX_URL
            and not _CONTROL.search(url))


def encode(token: TrackingToken, secret: bytes) -> str:
    """The token text. ValueError when a field is out of range or the URL is not trackable."""
    payload = _payload(token)
    return _text(payload, _key(secret))


def decode(text: str, secret: bytes | Iterable[bytes]) -> TrackingToken | None:
    """What `text` names, or None when it is not a token of ours (malformed, altered, forged,
    or made under another secret). `secret` may be several (current first)."""
    keys = [_key(secret)] if isinstance(secret, bytes) else [_key(s) for s in secret]
    if len(text) > 2 * MAX_URL or not _TOKEN.match(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    token = _parse(raw[:-MAC_SIZE]) if len(raw) > MAC_SIZE else None
    if token is None:
        return None
    payload = raw[:-MAC_SIZE]
    for key in keys:
        if hmac.compare_digest(_text(payload, key), text):
            return token
    return None


def _key(secret: bytes) -> bytes:
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the tracking secret must be non-empty bytes")
    return secret


def _text(payload: bytes, key: bytes) -> str:
    mac = hmac.new(key, _CONTEXT + payload, hashlib.sha256).digest()[:MAC_SIZE]
    return base64.urlsafe_b64encode(payload + mac).decode("ascii").rstrip("=")


def _payload(token: TrackingToken) -> bytes:
    if not _MESSAGE_ID.match(token.message_id):
        raise ValueError(f"not a message id: {token.message_id!r}")
    if not 0 <= token.item < 1 << 64:
        raise ValueError(f"item out of range: {token.item}")
    head = token.message_id.encode("ascii") + token.item.to_bytes(_ITEM_SIZE, "big")
    if token.url is None:
        return bytes([_KIND_OPEN]) + head
    if not trackable(token.url):
        raise ValueError(f"not a trackable URL: {token.url[:100]!r}")
    return bytes([_KIND_CLICK]) + head + token.url.encode("utf-8")


def _parse(payload: bytes) -> TrackingToken | None:
    """The fields of a payload (MAC removed), or None; the MAC is checked by the caller."""
    size = 1 + _ID_SIZE + _ITEM_SIZE
    if len(payload) < size or payload[0] not in (_KIND_OPEN, _KIND_CLICK):
        return None
    message_id = payload[1:1 + _ID_SIZE].decode("ascii", "replace")
    if not _MESSAGE_ID.match(message_id):
        return None
    item = int.from_bytes(payload[1 + _ID_SIZE:size], "big")
    if payload[0] == _KIND_OPEN:
        return TrackingToken(message_id, item) if len(payload) == size else None
    try:
        url = payload[size:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return TrackingToken(message_id, item, url) if trackable(url) else None
