"""SRS, the Sender Rewriting Scheme (Shevek's guarded scheme, as libsrs2 and Mail::SRS write it).

A forwarded copy leaves with an envelope sender in the forwarder's domain, so SPF passes at
the next hop, and a bounce to that address comes back here to be sent on to the original
sender:

    SRS0=HHHH=TT=orig-domain=orig-local@our-domain
    SRS1=HHHH=first-forwarder-domain==HHHH=TT=orig-domain=orig-local@our-domain

HHHH is base64 HMAC-SHA1 under the install's secret over the lower-cased fields, truncated to
4 characters and compared without regard to case (relays fold case); TT is the day number
(days since the epoch mod 1024) in base32, 2 characters. An SRS0 address made elsewhere is
re-forwarded as SRS1 naming that first forwarder; an SRS1 address gets our own hash over the
same fields. Reversing an SRS1 address gives the first forwarder's SRS0 address (its age is
checked there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

HASH_LENGTH = 4
MAX_AGE_DAYS = 21
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SRS0 = re.compile(r"SRS0([-+=].+)\Z", re.IGNORECASE | re.DOTALL)
_SRS0_FIELDS = re.compile(r"SRS0[-+=]([^=]+)=([^=]+)=([^=]+)=(.+)\Z", re.IGNORECASE | re.DOTALL)
_SRS1 = re.compile(r"SRS1[-+=]([^=]+)=([^=]+)=([-+=].+)\Z", re.IGNORECASE | re.DOTALL)


class SrsError(ValueError):
    """An address that does not reverse: not SRS, a bad hash, an old or bad timestamp."""


def is_srs(address: str) -> bool:
    """Whether the local part looks like SRS0 or SRS1 (the hash is not checked)."""
    local = address.rpartition("@")[0]
    return bool(_SRS0_FIELDS.match(local) or _SRS1.match(local))


def forward(sender: str, our_domain: str, secret: bytes, today: int) -> str:
    """The envelope sender for a copy forwarded through `our_domain`. `today`: days since the
    epoch. The null sender, and senders of `our_domain` itself, stay as they are."""
    local, _, domain = sender.rpartition("@")
    if not sender or not local or domain.lower() == our_domain.lower():
        return sender
    first = _SRS1.match(local)
    if first is not None:
        host, opaque = first.group(2), first.group(3)
        return f"SRS1={_hash(secret, host, opaque)}={host}={opaque}@{our_domain}"
    srs0 = _SRS0.match(local)
    if srs0 is not None:
        opaque = srs0.group(1)
        return f"SRS1={_hash(secret, domain, opaque)}={domain}={opaque}@{our_domain}"
    stamp = timestamp(today)
    return f"SRS0={_hash(secret, stamp, domain, local)}={stamp}={domain}={local}@{our_domain}"


def reverse(address: str, secret: bytes, today: int, max_age_days: int = MAX_AGE_DAYS) -> str:
    """The address a bounce to `address` goes on to; SrsError when it is not ours to reverse."""
    local = address.rpartition("@")[0]
    srs1 = _SRS1.match(local)
    if srs1 is not None:
        given, host, opaque = srs1.groups()
        _check_hash(given, secret, host, opaque)
        return f"SRS0{opaque}@{host}"
    srs0 = _SRS0_FIELDS.match(local)
    if srs0 is None:
        raise SrsError("not an SRS address")
    given, stamp, domain, original = srs0.groups()
    _check_hash(given, secret, stamp, domain, original)
    age = age_days(stamp, today)
    if age is None:
        raise SrsError("bad SRS timestamp")
    if age > max_age_days:
        raise SrsError(f"SRS address too old ({age} days)")
    return f"{original}@{domain}"


def timestamp(today: int) -> str:
    day = today % 1024
    return _BASE32[day >> 5] + _BASE32[day & 31]


def age_days(stamp: str, today: int) -> int | None:
    """Days from `stamp` to `today` (0..1023, the stamp wraps), None when it is no stamp."""
    if len(stamp) != 2 or any(c not in _BASE32 for c in stamp.upper()):
        return None
    then = _BASE32.index(stamp[0].upper()) << 5 | _BASE32.index(stamp[1].upper())
    return (today % 1024 - then) % 1024


def _hash(secret: bytes, *fields: str) -> str:
    mac = hmac.new(secret, "".join(fields).lower().encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")[:HASH_LENGTH]


def _check_hash(given: str, secret: bytes, *fields: str) -> None:
    expected = _hash(secret, *fields)
    if len(given) != HASH_LENGTH or not hmac.compare_digest(given.lower(), expected.lower()):
        raise SrsError("bad SRS hash")
