"""One-click unsubscribe (RFC 8058, RFC 2369): the signed tokens, the header fields, and which
messages get them.

A token names who unsubscribes from what: the tenant, the recipient address, the message's
category (or every category) and the message. It is its own proof: an HMAC under a key derived
from the install's key, so checking it needs no lookup, and a changed or made-up token does not
verify. The same text is the last segment of the HTTPS URL and the local part's tail of the
mailto address (`unsubscribe+<token>@<sending domain>`).

Token format (version 1). Binary, then base32 (RFC 4648) in lower case without padding, so
it is letters and digits only (a URL path segment, a dot-atom local part) and survives a relay
that changes the case of a local part (decoding folds case):

    version (1 octet: 1)
    flags (1 octet: bit 0 = every category)
    message id: 16 octets (the 26-character Crockford base32 id as a 128-bit number)
    tenant: 1 length octet, then UTF-8
    category: 1 length octet, then UTF-8
    recipient: the rest, UTF-8
    mac: the first 16 octets (128 bits) of HMAC-SHA256(key, "postoffice-unsubscribe-1" NUL
         payload)

Decoding re-encodes and compares, so every token has one spelling. The mailto local part is
longer than RFC 5321's 64 octets for most recipients (the address is in it); receivers take
such addresses, and the HTTPS URL is the one mailbox providers use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

PREFIX = "unsubscribe"
"""The mailto local part is `unsubscribe+<token>`."""
PATH = "/u/"
"""The URL is `<scheme>://<host>/u/<token>`."""
ONE_CLICK = "List-Unsubscribe=One-Click"
"""The List-Unsubscribe-Post value, and the body of the one-click POST (RFC 8058 3.1)."""
TRANSACTIONAL = "transactional"
SENT_SOURCES = frozenset({"api", "submission", "submissions"})
"""Where messages of our senders come from (not the MX: forwarded and redirected copies are
somebody else's mail)."""
MAC_SIZE = 16
_VERSION = 1
_EVERY_CATEGORY = 1
_CONTEXT = b"postoffice-unsubscribe-1\x00"
_KEY_CONTEXT = b"postoffice-unsubscribe-key-1"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MESSAGE_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}\Z", re.IGNORECASE)
_TEXT = re.compile(r"[a-z2-7]+\Z")
_MAX_TEXT = 1200
_MULTIPART_FIELD = re.compile(
    rb'name="?List-Unsubscribe"?[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\nOne-Click\r\n')


@dataclass(frozen=True)
class UnsubscribeToken:
    """What one unsubscribe link or address stands for."""

    tenant: str
    """Whose list the address goes on."""
    recipient: str
    """The address that unsubscribes (as it was delivered to)."""
    category: str
    """The message's category ("" when it had none)."""
    message_id: str
    """The message the link came in (26 characters of Crockford base32, `storage.ids`)."""
    every_category: bool = False
    """Unsubscribe from all of the tenant's mail, not only this category."""

    @property
    def scope(self) -> str:
        """The suppression's category: "" (every category) or the message's."""
        return "" if self.every_category else self.category


def derive_key(install_key: bytes) -> bytes:
    """The unsubscribe key, kept apart from the other uses of the install's key."""
    if not install_key:
        raise ValueError("the install key must be non-empty bytes")
    return hmac.new(install_key, _KEY_CONTEXT, hashlib.sha256).digest()


def encode(token: UnsubscribeToken, key: bytes) -> str:
    """The token's text. ValueError when a field does not fit (a tenant or category over 255
    octets, a bad message id, an empty recipient)."""
    return _text(_payload(token), key)


def decode(text: str, keys: bytes | Iterable[bytes]) -> UnsubscribeToken | None:
    """The token `text` is, or None when it is malformed or does not verify under any of
    `keys` (the current one first, then retired ones)."""
    candidates = [keys] if isinstance(keys, bytes) else list(keys)
    text = text.strip().lower()
    if len(text) > _MAX_TEXT or not _TEXT.match(text):
        return None
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except ValueError:
        return None
    if len(raw) <= MAC_SIZE:
        return None
    token = _parse(raw[:-MAC_SIZE])
    if token is None:
        return None
    for key in candidates:
        if key and hmac.compare_digest(_text(raw[:-MAC_SIZE], key), text):
            return token
    return None


def url(scheme: str, host: str, text: str) -> str:
    """The one-click URL of a token."""
    return f"{scheme}://{host}{PATH}{text}"


def mailto_address(text: str, domain: str) -> str:
    """The address whose mail unsubscribes: `unsubscribe+<token>@domain`."""
    return f"{PREFIX}+{text}@{domain}"


def mailto_text(address: str) -> str | None:
    """The token text of an `unsubscribe+<token>@...` address (unchecked), else None."""
    address = address.strip().removeprefix("<").removesuffix(">")
    local, at, _ = address.rpartition("@")
    head, plus, text = local.partition("+")
    if not at or not plus or head.lower() != PREFIX or not text:
        return None
    return text


def header_fields(one_click: str, mailto: str | None) -> bytes:
    """List-Unsubscribe (the URL, then the mailto) and List-Unsubscribe-Post (RFC 8058 3.1),
    each ending in CRLF, folded between the two URIs."""
    uris = [f"<{one_click}>"]
    if mailto:
        uris.append(f"<mailto:{mailto}?subject=unsubscribe>")
    value = ",\r\n ".join(uris)
    return f"List-Unsubscribe: {value}\r\nList-Unsubscribe-Post: {ONE_CLICK}\r\n".encode("ascii")


def has_list_unsubscribe(fields: Sequence[tuple[str, str]]) -> bool:
    """Whether the sender gave the message a List-Unsubscribe of its own."""
    return any(name.strip().lower() == "list-unsubscribe" for name, _ in fields)


def wanted(*, lane: str, asked: bool, source: str, own: bool) -> bool:
    """Whether a message gets our unsubscribe fields: one of our senders' (`source`), without
    a List-Unsubscribe of its own (`own`), in a bulk lane or `asked` for (the API's
    `unsubscribe` field)."""
    if source not in SENT_SOURCES or own:
        return False
    return asked or lane != TRANSACTIONAL


def is_one_click(body: bytes, content_type: str = "") -> bool:
    """Whether a POST body carries RFC 8058's `List-Unsubscribe=One-Click`: form-encoded
    (application/x-www-form-urlencoded, or multipart/form-data); other fields may come too."""
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return _MULTIPART_FIELD.search(body) is not None
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return ("List-Unsubscribe", "One-Click") in pairs


def _text(payload: bytes, key: bytes) -> str:
    mac = hmac.new(key, _CONTEXT + payload, hashlib.sha256).digest()[:MAC_SIZE]
    return base64.b32encode(payload + mac).decode("ascii").rstrip("=").lower()


def _payload(token: UnsubscribeToken) -> bytes:
    if not _MESSAGE_ID.match(token.message_id):
        raise ValueError(f"not a message id: {token.message_id!r}")
    value = 0
    for char in token.message_id.upper():
        value = value * 32 + _CROCKFORD.index(char)
    if value >> 128:
        raise ValueError(f"not a message id: {token.message_id!r}")
    tenant, category = token.tenant.encode(), token.category.encode()
    recipient = token.recipient.encode()
    if len(tenant) > 255 or len(category) > 255:
        raise ValueError("tenant and category must be at most 255 octets")
    if not recipient or len(recipient) > 512:
        raise ValueError(f"bad recipient {token.recipient!r}")
    flags = _EVERY_CATEGORY if token.every_category else 0
    return (bytes([_VERSION, flags]) + value.to_bytes(16, "big") + bytes([len(tenant)]) + tenant
            + bytes([len(category)]) + category + recipient)


def _parse(payload: bytes) -> UnsubscribeToken | None:
    if len(payload) < 20 or payload[0] != _VERSION or payload[1] & ~_EVERY_CATEGORY:
        return None
    value = int.from_bytes(payload[2:18], "big")
    message_id = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))
    rest = payload[18:]
    try:
        tenant, rest = _field(rest)
        category, rest = _field(rest)
        recipient = rest.decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not recipient:
        return None
    return UnsubscribeToken(tenant, recipient, category, message_id,
                            every_category=bool(payload[1] & _EVERY_CATEGORY))


def _field(data: bytes) -> tuple[str, bytes]:
    if not data or len(data) < 1 + data[0]:
        raise ValueError("short")
    size = data[0]
    return data[1:1 + size].decode(), data[1 + size:]
