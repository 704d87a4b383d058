"""VERP return paths: `bounce+<token>@domain`, naming the exact queue item a bounce is about.

Each outbound delivery gets its own envelope sender, so a bounce that comes back (to that
address, asynchronously, in whatever format) says by its envelope recipient which item failed,
even when its content cannot be parsed. The token carries a truncated HMAC-SHA256 under a
per-install secret: a forged or mistyped address does not decode, so nobody can suppress one
of our recipients by mailing us a fake bounce.

Token format (version 1). Binary, then base32 (RFC 4648) in lower case without padding:

    kind (1 octet: 1 = item, 2 = message id + item)
    [message id: 16 octets, the 26-character Crockford base32 id as a 128-bit number]
    item: unsigned LEB128 (the queue row id < 2**64; a number < 2**32 after a message id)
    mac: the first 10 octets (80 bits) of HMAC-SHA256(secret, "postoffice-verp-1" NUL payload)

base32 uses only letters and digits (a valid dot-atom local part) and survives relays that
change the case of the local part: decoding folds case. An item-only token is 20-34
characters, one with a message id 45-52, so with the default prefix ("bounce+", 7) the local
part stays within the 64-octet limit of RFC 5321 4.5.3.1.1; a longer prefix may not fit,
which `encode` refuses. Decoding re-encodes and compares, so every
item has exactly one token (no alternative spellings through base32's unused bits).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_PREFIX = "bounce"
MAX_LOCAL_PART = 64
MAC_SIZE = 10
_CONTEXT = b"postoffice-verp-1\x00"
_KIND_ITEM = 1
_KIND_MESSAGE_ITEM = 2
_MAX_ITEM = (1 << 64) - 1
MAX_INDEX = (1 << 32) - 1
"""The largest `item` a token with a message id carries."""
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MESSAGE_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}\Z", re.IGNORECASE)
_PREFIX = re.compile(r"[a-z0-9!#$%&'*/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*/=?^_`{|}~-]+)*\Z")
_TOKEN = re.compile(r"[a-z2-7]+\Z")


@dataclass(frozen=True)
class VerpToken:
    """What a return path identifies."""

    item: int
    """The queue row id (never reused, < 2**64); with `message_id`, a number < 2**32 naming one
    recipient of that message (postoffice uses the queue row id there too)."""
    message_id: str | None = None
    """The message's id (26 characters of Crockford base32, as `storage.ids` makes them)."""


def encode(
    prefix: str = DEFAULT_PREFIX,
    *,
    token: VerpToken,
    domain: str,
    secret: bytes,
) -> str:
    """`prefix+<token>@domain`. ValueError when the prefix is not a dot-atom without "+", the
    token's fields are out of range, or the local part would exceed 64 octets."""
    prefix = prefix.lower()
    if not _PREFIX.match(prefix):
        raise ValueError(f"VERP prefix must be a dot-atom without '+': {prefix!r}")
    if not domain or "@" in domain:
        raise ValueError(f"bad domain {domain!r}")
    local = f"{prefix}+{_token_text(token, _key(secret))}"
    if len(local) > MAX_LOCAL_PART:
        raise ValueError(f"VERP local part is {len(local)} octets, more than {MAX_LOCAL_PART}")
    return f"{local}@{domain}"


def decode(
    address: str,
    secret: bytes | Iterable[bytes],
    *,
    prefix: str = DEFAULT_PREFIX,
) -> VerpToken | None:
    """The token of a VERP address, or None when it is not one of ours (wrong prefix, malformed,
    forged, or made with another secret). Case-insensitive. `secret` may be several keys
    (current first, then retired ones) to accept tokens made before a rotation."""
    keys = [_key(secret)] if isinstance(secret, bytes) else [_key(s) for s in secret]
    address = address.strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, at, _domain = address.rpartition("@")
    head, plus, text = local.lower().partition("+")
    if not at or not plus or head != prefix.lower() or not _TOKEN.match(text):
        return None
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:
        return None
    token = _parse(raw[:-MAC_SIZE]) if len(raw) > MAC_SIZE else None
    if token is None:
        return None
    for key in keys:
        if hmac.compare_digest(_token_text(token, key), text):
            return token
    return None


def _key(secret: bytes) -> bytes:
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the VERP secret must be non-empty bytes")
    return secret


def _token_text(token: VerpToken, key: bytes) -> str:
    payload = _payload(token)
    mac = hmac.new(key, _CONTEXT + payload, hashlib.sha256).digest()[:MAC_SIZE]
    return base64.b32encode(payload + mac).decode("ascii").rstrip("=").lower()


def _payload(token: VerpToken) -> bytes:
    if not 0 <= token.item <= _MAX_ITEM:
        raise ValueError(f"item out of range: {token.item}")
    if token.message_id is None:
        return bytes([_KIND_ITEM]) + _leb128(token.item)
    if not _MESSAGE_ID.match(token.message_id):
        raise ValueError(f"not a message id: {token.message_id!r}")
    if token.item > MAX_INDEX:
        raise ValueError(f"recipient index out of range: {token.item}")
    value = 0
    for char in token.message_id.upper():
        value = value * 32 + _CROCKFORD.index(char)
    if value >> 128:
        raise ValueError(f"not a message id: {token.message_id!r}")
    return bytes([_KIND_MESSAGE_ITEM]) + value.to_bytes(16, "big") + _leb128(token.item)


def _parse(payload: bytes) -> VerpToken | None:
    """Fields of a payload (MAC removed), or None; canonical form is checked by the caller."""
    if not payload:
        return None
    message_id = None
    rest = payload[1:]
    if payload[0] == _KIND_MESSAGE_ITEM:
        if len(rest) < 17:
            return None
        value = int.from_bytes(rest[:16], "big")
        message_id = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))
        rest = rest[16:]
    elif payload[0] != _KIND_ITEM:
        return None
    item = 0
    for shift, byte in enumerate(rest):
        item |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            if shift + 1 != len(rest) or item > (_MAX_ITEM if message_id is None else MAX_INDEX):
                return None
            return VerpToken(item=item, message_id=message_id)
    return None


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
