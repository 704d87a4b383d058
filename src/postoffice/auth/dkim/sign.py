"""DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463).

:func:`sign` returns only the ``DKIM-Signature:`` header field (folded, CRLF-terminated); the
caller prepends it. The message itself is never rewritten, so signing cannot change a byte of it.
Several keys (say RSA and Ed25519 for one domain) give several fields from :func:`sign_many`,
each computed over the original message: no signature covers another, and the order in which
they are prepended does not matter.

Time is injected: ``timestamp`` (``t=``) and ``expiry`` (``x=``) are seconds since the epoch the
caller read from its clock, or ``None`` to leave the tag out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from postoffice.auth.dkim.canonical import (
    CANONICALIZATIONS,
    Canonicalization,
    HeaderField,
    body_hash,
    canonicalize_header,
    header_hash_input,
    parse_canonicalization,
    select_headers,
    signature_field_for_hash,
    split_message,
)
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import ALGORITHMS, MIN_RSA_BITS, Algorithm, PrivateKey, key_algorithm
from postoffice.auth.dkim.tags import parse_tag_list, qp_encode

__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_OVERSIGNED",
    "SigningKey",
    "sign",
    "sign_data",
    "sign_many",
    "signature_value",
]

#: Header fields signed when present (RFC 6376 5.4.1's list, plus the MIME, list and feedback
#: fields that receivers and RFC 8058 one-click unsubscribe rely on). Trace fields (Received,
#: Return-Path) are not: they change in transit.
DEFAULT_HEADERS: tuple[str, ...] = (
    "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
    "In-Reply-To", "References",
    "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    "Content-ID", "Content-Description", "Content-Language",
    "Resent-Date", "Resent-From", "Resent-Sender", "Resent-To", "Resent-Cc", "Resent-Message-ID",
    "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
    "List-Post", "List-Owner", "List-Archive",
    "Feedback-ID", "Autocrypt", "Disposition-Notification-To",
)  # fmt: skip

#: Header fields signed once more than they occur, so that adding one breaks the signature.
DEFAULT_OVERSIGNED: tuple[str, ...] = ("From",)

_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_WIDTH = 76  # folded lines stay within RFC 5322's 78, leaving room for a receiver's indent


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key a domain signs with."""

    domain: str
    """The signing domain (``d=``), ASCII (A-labels for internationalised names)."""
    selector: str
    """The selector (``s=``): the key record is ``<selector>._domainkey.<domain>``."""
    private_key: PrivateKey
    """An RSA (>= 1024 bits) or Ed25519 private key."""
    identity: str | None = None
    """The agent or user identity (``i=``), ``[local]@domain`` within ``domain``; None omits it."""

    @property
    def algorithm(self) -> Algorithm:
        """``rsa-sha256`` or ``ed25519-sha256``, from the key's type."""
        return key_algorithm(self.private_key)


def sign(
    message: bytes,
    *,
    domain: str,
    selector: str,
    private_key: PrivateKey,
    timestamp: int | None,
    algorithm: Algorithm | None = None,
    canonicalization: tuple[Canonicalization, Canonicalization] = ("relaxed", "relaxed"),
    headers: Sequence[str] = DEFAULT_HEADERS,
    oversign: Sequence[str] = DEFAULT_OVERSIGNED,
    identity: str | None = None,
    expiry: int | None = None,
    body_length: bool = False,
) -> bytes:
    """The ``DKIM-Signature:`` field (folded, ending in CRLF) to prepend to ``message``.

    ``message`` is the whole message with CRLF line endings. ``headers`` are signed when present
    (each as often as it occurs, bottom-up); names in ``oversign`` are signed once more than they
    occur. ``algorithm`` defaults to the key's; if given it must match it. ``body_length`` adds
    ``l=`` (the canonical body length), which lets anyone append to the body: rarely wise.
    Raises :class:`DkimError` for a message without From, a bad domain, selector, identity or key.
    """
    key = SigningKey(domain, selector, private_key, identity)
    if algorithm is not None and algorithm != key.algorithm:
        if algorithm not in ALGORITHMS:
            raise DkimError(f"unknown DKIM algorithm {algorithm!r}")
        raise DkimError(f"a {type(private_key).__name__} cannot sign {algorithm}")
    return sign_many(
        message,
        [key],
        timestamp=timestamp,
        canonicalization=canonicalization,
        headers=headers,
        oversign=oversign,
        expiry=expiry,
        body_length=body_length,
    )


def sign_many(
    message: bytes,
    keys: Sequence[SigningKey],
    *,
    timestamp: int | None,
    canonicalization: tuple[Canonicalization, Canonicalization] = ("relaxed", "relaxed"),
    headers: Sequence[str] = DEFAULT_HEADERS,
    oversign: Sequence[str] = DEFAULT_OVERSIGNED,
    expiry: int | None = None,
    body_length: bool = False,
) -> bytes:
    """One ``DKIM-Signature:`` field per key, in ``keys`` order, each over the original message
    (none covers another); the body is canonicalised and hashed once for all of them."""
    header_canon, body_canon = canonicalization
    if header_canon not in CANONICALIZATIONS or body_canon not in CANONICALIZATIONS:
        raise DkimError(f"unknown canonicalization {canonicalization!r}")
    _check_times(timestamp, expiry)
    fields, body = split_message(message)
    names = _signed_names(fields, tuple(headers), tuple(oversign))
    bh = body_hash(body, body_canon)
    # The signed fields are the same for every key: canonicalise them once.
    signed = b"".join(canonicalize_header(f, header_canon)
                      for f in select_headers(fields, names) if f is not None)
    h = ":".join(names)
    bh_b64 = base64.b64encode(bh.digest).decode("ascii")
    out = []
    for key in keys:
        tags = _tags(key, canonicalization, timestamp, expiry, body_length, bh.canonical_length)
        tags.append(("h", h))
        tags.append(("bh", bh_b64))
        template = _render(tags)
        data = signed + _template_for_hash(template, header_canon)
        out.append(template + _fold_b(sign_data(key.private_key, data)))
    return b"".join(out)


def signature_value(message: bytes, signature_field: bytes, private_key: PrivateKey) -> str:
    """The ``b=`` value (base64) that ``signature_field`` should carry on ``message``.

    ``signature_field`` is a whole ``DKIM-Signature:`` field whose own ``b=`` value is ignored;
    its ``a=``, ``c=`` and ``h=`` say what to sign. Signing is deterministic for both algorithms,
    so this reproduces a published signature exactly from its key (and re-signs a template)."""
    tags = parse_tag_list(signature_field.partition(b":")[2])
    if tags.get("a") != key_algorithm(private_key):
        raise DkimError(f"signature a={tags.get('a')} does not match the key")
    header_canon, _ = parse_canonicalization(tags.get("c"))
    fields, _ = split_message(message)
    names = tags.get("h", "").split(":")
    data = header_hash_input(fields, names, signature_field, header_canon)
    return base64.b64encode(sign_data(private_key, data)).decode("ascii")


def sign_data(private_key: PrivateKey, data: bytes) -> bytes:
    """The raw signature (``b=`` before base64) of the header hash input ``data``."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < MIN_RSA_BITS:
            raise DkimError(f"RSA key of {private_key.key_size} bits is too short for DKIM")
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        # RFC 8463 3: Ed25519 (pure) over the SHA-256 hash of the header data.
        return private_key.sign(hashlib.sha256(data).digest())
    raise DkimError(f"unsupported DKIM key type {type(private_key).__name__}")


def _check_times(timestamp: int | None, expiry: int | None) -> None:
    for tag, value in (("t", timestamp), ("x", expiry)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DkimError(f"{tag}= must be a non-negative integer, not {value!r}")
    if timestamp is not None and expiry is not None and expiry <= timestamp:
        raise DkimError("x= (expiry) must be later than t= (timestamp)")


def _signed_names(
    fields: Sequence[HeaderField], headers: tuple[str, ...], oversign: tuple[str, ...]
) -> list[str]:
    counts = Counter(field.lname for field in fields)
    if not counts[b"from"]:
        raise DkimError("message has no From header field; DKIM must sign it")
    names: list[str] = []
    for name, key, extra in _name_plan(headers, oversign):
        names.extend([name] * (counts[key] + extra))
    return names


@functools.lru_cache(maxsize=64)
def _name_plan(headers: tuple[str, ...], oversign: tuple[str, ...]) -> tuple[tuple[str, bytes, int], ...]:
    """(name, lowercased key, 1 if oversigned) per distinct name, checked once per list."""
    over = {name.lower() for name in oversign}
    plan = []
    seen: set[str] = set()
    for name in (*headers, *oversign):
        if not _FIELD_NAME.match(name):
            raise DkimError(f"invalid header field name {name!r}")
        key = name.lower()
        if key not in seen:
            seen.add(key)
            plan.append((name, key.encode("ascii"), int(key in over)))
    return tuple(plan)


def _tags(
    key: SigningKey,
    canonicalization: tuple[Canonicalization, Canonicalization],
    timestamp: int | None,
    expiry: int | None,
    body_length: bool,
    canonical_length: int,
) -> list[tuple[str, str]]:
    domain, selector = key.domain, key.selector
    if not _DOMAIN.match(domain) or len(domain) > 253:
        raise DkimError(f"invalid signing domain d={domain!r} (ASCII, A-labels for IDN)")
    if not _DOMAIN.match(selector):
        raise DkimError(f"invalid selector s={selector!r}")
    tags = [("v", "1"), ("a", key.algorithm), ("c", "/".join(canonicalization)), ("d", domain)]
    if key.identity is not None:
        tags.append(("i", _identity(key.identity, domain)))
    tags.append(("s", selector))
    if timestamp is not None:
        tags.append(("t", str(timestamp)))
    if expiry is not None:
        tags.append(("x", str(expiry)))
    if body_length:
        tags.append(("l", str(canonical_length)))
    return tags


def _identity(identity: str, domain: str) -> str:
    local, at, host = identity.rpartition("@")
    host_l, domain_l = host.lower(), domain.lower()
    if not at or not (host_l == domain_l or host_l.endswith("." + domain_l)) or not _DOMAIN.match(host):
        raise DkimError(f"identity i={identity!r} is not within d={domain}")
    return qp_encode(local) + "@" + host


def _render(tags: Sequence[tuple[str, str]]) -> bytes:
    """The folded field up to and including ``b=`` (what is hashed, the b= value being empty)."""
    lines: list[str] = []
    line = "DKIM-Signature:"
    pieces: list[tuple[str, str]] = []  # (joiner, text): h= breaks after its colons
    for name, value in tags:
        if name == "h":
            parts = value.split(":")
            pieces.append((" ", "h=" + parts[0] + (":" if len(parts) > 1 else ";")))
            pieces.extend(("", p + ":") for p in parts[1:-1])
            if len(parts) > 1:
                pieces.append(("", parts[-1] + ";"))
        else:
            pieces.append((" ", f"{name}={value};"))
    for joiner, text in pieces:
        if len(line) + len(joiner) + len(text) > _WIDTH:
            lines.append(line)
            line = " " + text
        else:
            line += joiner + text
    lines.append(line)
    lines.append(" b=")
    return "\r\n".join(lines).encode("ascii")


def _template_for_hash(template: bytes, method: Canonicalization) -> bytes:
    """`signature_field_for_hash` of a field `_render` made, without the general parsing: its
    b= is already empty, and relaxed form only unfolds it (its values hold no spaces and it
    folds with CRLF and one space)."""
    if method == "relaxed":
        return b"dkim-signature:" + template[15:].replace(b"\r\n", b"").lstrip(b" ")
    return signature_field_for_hash(template, method)


def _fold_b(signature: bytes) -> bytes:
    """The b= value, folded: the rest of the ``" b="`` line, then indented lines."""
    value = base64.b64encode(signature)
    first = _WIDTH - 3
    chunks = [value[:first]] + [value[i : i + _WIDTH - 1] for i in range(first, len(value), _WIDTH - 1)]
    return b"\r\n ".join(chunks) + b"\r\n"
