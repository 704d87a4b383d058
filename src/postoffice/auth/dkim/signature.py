"""Reading signature header fields: DKIM-Signature (RFC 6376 3.5) and the two ARC fields built on
it, ARC-Message-Signature and ARC-Seal (RFC 8617 4.1.2, 4.1.3).

The three share DKIM's tag list and most of its tags; they differ in a few:

=========  ===========================  ==============================  =======================
 tag        DKIM-Signature               ARC-Message-Signature           ARC-Seal
=========  ===========================  ==============================  =======================
 v=         required, ``1``              (ignored)                       (ignored)
 i=         agent or user identity       instance, 1-50                  instance, 1-50
 h=         required, must name From     required, must not name         not allowed
                                         ARC-Seal
 bh=, c=,   as RFC 6376                  as RFC 6376                     (ignored); headers
 l=                                                                      relaxed
 cv=        -                            -                               required
 a=         rsa-sha256, ed25519-sha256,  rsa-sha256, ed25519-sha256      same as AMS
            rsa-sha1 (if policy allows)
=========  ===========================  ==============================  =======================

:func:`parse_signature` checks all of this and raises :class:`DkimError` (one line naming the
problem) for a field that is not a valid signature of its kind; what a valid signature then
proves is for :mod:`postoffice.auth.dkim.checks`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal

from postoffice.auth.dkim.canonical import Canonicalization, parse_canonicalization
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import record_name
from postoffice.auth.dkim.tags import parse_tag_list, qp_decode, remove_whitespace

__all__ = [
    "ARC_MAX_INSTANCE",
    "HASH_OF",
    "KEY_TYPE_OF",
    "Signature",
    "SignatureKind",
    "a_label",
    "is_valid_name",
    "parse_instance",
    "parse_signature",
]

SignatureKind = Literal["dkim", "ams", "as"]

HASH_OF = {"rsa-sha256": "sha256", "ed25519-sha256": "sha256", "rsa-sha1": "sha1"}
"""The hash algorithm of each signing algorithm (``a=``)."""
KEY_TYPE_OF = {"rsa-sha256": "rsa", "ed25519-sha256": "ed25519", "rsa-sha1": "rsa"}
"""The key type (``k=`` of the key record) of each signing algorithm."""
ARC_MAX_INSTANCE = 50  # RFC 8617 4.2.1

_REQUIRED: dict[SignatureKind, tuple[str, ...]] = {
    "dkim": ("v", "a", "b", "bh", "d", "h", "s"),
    "ams": ("i", "a", "b", "bh", "d", "h", "s"),
    "as": ("i", "a", "b", "d", "s", "cv"),
}
_ALGORITHMS: dict[SignatureKind, frozenset[str]] = {
    "dkim": frozenset(HASH_OF),
    "ams": frozenset({"rsa-sha256", "ed25519-sha256"}),  # RFC 8301: never SHA-1
    "as": frozenset({"rsa-sha256", "ed25519-sha256"}),
}
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_DIGITS = {"t": re.compile(r"[0-9]{1,12}\Z"), "x": re.compile(r"[0-9]{1,12}\Z"), "l": re.compile(r"[0-9]{1,76}\Z")}
_INSTANCE = re.compile(r"[0-9]{1,2}\Z")


@dataclass(frozen=True, slots=True)
class Signature:
    """A signature field's tags, checked and decoded."""

    kind: SignatureKind
    """Which field: ``dkim`` (DKIM-Signature), ``ams`` (ARC-Message-Signature) or ``as``
    (ARC-Seal)."""
    algorithm: str
    """``a=``: ``rsa-sha256``, ``ed25519-sha256`` or (DKIM only) ``rsa-sha1``."""
    signature: bytes
    """``b=``, decoded."""
    b64: str
    """``b=`` as written, whitespace removed (for ``header.b`` in Authentication-Results)."""
    body_hash: bytes
    """``bh=``, decoded (empty for an ARC-Seal)."""
    canonicalization: tuple[Canonicalization, Canonicalization]
    """``c=`` as (header, body); relaxed header canonicalisation for an ARC-Seal."""
    domain: str
    """``d=`` as written."""
    selector: str
    """``s=``."""
    headers: tuple[str, ...] = ()
    """``h=``: the signed header field names, in order (empty for an ARC-Seal)."""
    identity: str = ""
    """DKIM ``i=``, decoded (default ``@`` + ``d=``); empty for ARC fields."""
    instance: int = 0
    """ARC ``i=``: the instance, 1-50; 0 for DKIM."""
    timestamp: int | None = None
    """``t=``: when it was signed."""
    expiry: int | None = None
    """``x=``: when it expires."""
    length: int | None = None
    """``l=``: how many octets of the canonical body are signed; None: all of them."""
    cv: str = ""
    """ARC-Seal ``cv=``: ``none``, ``pass`` or ``fail``; empty otherwise."""

    @property
    def hash_name(self) -> str:
        """``sha256`` or ``sha1``."""
        return HASH_OF[self.algorithm]

    @property
    def key_type(self) -> str:
        """The ``k=`` a key for this signature must have: ``rsa`` or ``ed25519``."""
        return KEY_TYPE_OF[self.algorithm]

    @property
    def key_name(self) -> str:
        """The DNS name of the key record, in A-labels."""
        return record_name(a_label(self.selector), a_label(self.domain))


def parse_signature(value: str | bytes, kind: SignatureKind) -> Signature:
    """The signature a field value (everything after the colon) holds. Raises
    :class:`DkimError` naming the first problem found."""
    tags = parse_tag_list(value)
    for name in _REQUIRED[kind]:
        if name not in tags:
            raise DkimError(f"{name}= is missing")
    if kind == "dkim" and tags["v"] != "1":
        raise DkimError(f"unsupported version v={tags['v']}")
    if kind == "as" and "h" in tags:
        raise DkimError("an ARC-Seal must not have h=")
    algorithm = tags["a"]
    if algorithm not in _ALGORITHMS[kind]:
        raise DkimError(f"unsupported algorithm a={algorithm}")
    b64, signature = _base64(tags, "b")
    domain, selector = tags["d"], tags["s"]
    for tag, name in (("d", domain), ("s", selector)):
        if not is_valid_name(name):
            raise DkimError(f"invalid {tag}={name}")
    timestamp, expiry = _number(tags, "t"), _number(tags, "x")
    if timestamp is not None and expiry is not None and expiry <= timestamp:
        raise DkimError("x= is not later than t=")
    if kind == "as":
        cv = tags["cv"]
        if cv not in ("none", "pass", "fail"):
            raise DkimError(f"invalid cv={cv}")
        return Signature(kind, algorithm, signature, b64, b"", ("relaxed", "relaxed"), domain,
                         selector, instance=parse_instance(tags["i"]), timestamp=timestamp,
                         expiry=expiry, cv=cv)
    canonicalization = parse_canonicalization(tags.get("c"))
    headers = tuple(name.strip(" \t\r\n") for name in tags["h"].split(":"))
    lowered = {name.lower() for name in headers}
    if kind == "dkim" and "from" not in lowered:
        raise DkimError("h= does not include From")
    if kind == "ams" and "arc-seal" in lowered:
        raise DkimError("h= includes ARC-Seal")
    identity, instance = "", 0
    if kind == "dkim":
        identity = _identity(tags.get("i"), domain)
        methods = remove_whitespace(tags.get("q", "dns/txt")).split(":")
        if "dns/txt" not in methods:
            raise DkimError(f"unsupported query method q={tags['q']}")
    else:
        instance = parse_instance(tags["i"])
    return Signature(kind, algorithm, signature, b64, _base64(tags, "bh")[1], canonicalization,
                     domain, selector, headers, identity, instance, timestamp, expiry,
                     _number(tags, "l"))


def _base64(tags: dict[str, str], tag: str) -> tuple[str, bytes]:
    text = remove_whitespace(tags[tag])
    if not text:
        raise DkimError(f"{tag}= is empty")
    try:
        return text, base64.b64decode(text, validate=True)
    except binascii.Error:
        raise DkimError(f"{tag}= is not base64") from None


def _number(tags: dict[str, str], tag: str) -> int | None:
    if tag not in tags:
        return None
    if not _DIGITS[tag].match(tags[tag]):
        raise DkimError(f"invalid {tag}={tags[tag]}")
    return int(tags[tag])


def parse_instance(value: str) -> int:
    """An ARC instance number (``i=``): 1 to 50, at most two digits. Raises :class:`DkimError`."""
    if not _INSTANCE.match(value) or not 1 <= int(value) <= ARC_MAX_INSTANCE:
        raise DkimError(f"invalid instance i={value}")
    return int(value)


def _identity(value: str | None, domain: str) -> str:
    """DKIM ``i=``, decoded; its domain must be ``d=`` or a subdomain of it (RFC 6376 3.5)."""
    if value is None:
        return "@" + domain
    identity = qp_decode(value)
    _, at, host = identity.rpartition("@")
    if not at or not is_valid_name(host):
        raise DkimError(f"invalid identity i={value}")
    host_l, domain_l = a_label(host).lower(), a_label(domain).lower()
    if host_l != domain_l and not host_l.endswith("." + domain_l):
        raise DkimError(f"identity i={value} is not within d={domain}")
    return identity


def a_label(name: str) -> str:
    """``name`` with any internationalised labels in their ASCII (``xn--``) form."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise DkimError(f"invalid domain name {name!r}") from None


def is_valid_name(name: str) -> bool:
    """True for a syntactically valid domain name or selector (labels of letters, digits, ``-``
    and ``_``; internationalised labels allowed)."""
    try:
        ascii_name = a_label(name)
    except DkimError:
        return False
    return len(ascii_name) <= 253 and _NAME.match(ascii_name) is not None
