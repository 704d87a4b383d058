"""ARC, the Authenticated Received Chain (RFC 8617): validating a chain and sealing a message.

An ARC set is three header fields with one instance number ``i=``: ARC-Authentication-Results
(AAR: what that hop concluded), ARC-Message-Signature (AMS: a DKIM signature of the message as
that hop passed it on) and ARC-Seal (AS: a signature over every set up to its own, with ``cv=``,
the chain status that hop found). Sets are numbered 1..N, oldest first, at most 50.

:func:`validate` (a DNS flow, like DKIM's :func:`~postoffice.auth.dkim.verify`) follows RFC 8617
5.2 and returns an :class:`ArcResult`:

1. no ARC fields: ``none``;
2. the newest seal says ``cv=fail``: ``fail`` (the chain was already broken);
3. structure: each instance 1..N has exactly one AAR (beginning ``i=<n>;``), AMS and AS; every
   AMS and AS is a valid signature field of its kind; ``cv=none`` at 1, ``cv=pass`` above;
4. the newest AMS verifies (body hash and signature, as a DKIM signature would);
5. ``oldest_pass``: older AMSes are checked newest first; the oldest instance whose AMS and all
   newer ones verify (0 when all do). This does not change the status;
6. every AS verifies, newest first: ``pass``.

Any failure, DNS failures included, is ``fail`` (5.2.1: all failures are permanent). Signature
checks are those of :mod:`postoffice.auth.dkim.checks`, shared with DKIM verification.

:func:`seal` adds the next set to a message that a validation has looked at. Its ``cv=`` is that
validation's status; a seal over a failed chain signs only its own set (5.1.2), and a chain whose
newest seal already says ``cv=fail`` gets no new set. Fields are written in the layout the ARC
test suite standardises (tags in alphabetical order, ``"; "`` between them), folded between
tags to 76 columns where they allow.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.dkim.canonical import (
    HeaderField,
    canonicalize_header,
    select_headers,
    signature_field_for_hash,
    split_message,
)
from postoffice.auth.dkim.checks import (
    BodyHashes,
    Refusal,
    check_message,
    check_signature,
    check_times,
    usable_key,
)
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.sign import DEFAULT_HEADERS, SigningKey, sign_data
from postoffice.auth.dkim.signature import (
    ARC_MAX_INSTANCE,
    Signature,
    SignatureKind,
    is_valid_name,
    parse_instance,
    parse_signature,
)
from postoffice.auth.dkim.tags import parse_tag_list
from postoffice.auth.dns import DnsAnswer, DnsQuery, Flow, RRType, lookup_all

__all__ = ["ARC_HEADERS", "ArcResult", "ArcStatus", "seal", "validate"]

AAR, AMS, AS = b"arc-authentication-results", b"arc-message-signature", b"arc-seal"
_NAMES = {AAR: "ARC-Authentication-Results", AMS: "ARC-Message-Signature", AS: "ARC-Seal"}
_AAR_INSTANCE = re.compile(rb"\A[ \t\r\n]*i[ \t\r\n]*=[ \t\r\n]*([0-9]*)[ \t\r\n]*;")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")  # RFC 5322 ftext
_WIDTH = 76

#: Header fields an AMS signs when present: what a DKIM signature signs, and the DKIM signatures.
#: Never Authentication-Results (receivers remove those) nor ARC fields (RFC 8617 4.1.2; the seal
#: covers them). A validator only insists on the ARC-Seal rule, as the ARC test suite does.
ARC_HEADERS: tuple[str, ...] = (*DEFAULT_HEADERS, "DKIM-Signature")
_NEVER_SIGNED = {"authentication-results", *(name.lower() for name in _NAMES.values())}


class ArcStatus(StrEnum):
    """The chain validation status (``cv=``, and ``arc=`` in Authentication-Results)."""

    NONE = "none"
    """The message has no ARC fields."""
    PASS = "pass"
    """The chain is intact."""
    FAIL = "fail"
    """The chain is broken, malformed, or could not be checked."""


@dataclass(frozen=True, slots=True)
class ArcResult:
    """What :func:`validate` found."""

    status: ArcStatus
    """``none``, ``pass`` or ``fail``."""
    reason: str
    """Why, in one line."""
    instances: int = 0
    """N, the newest instance number in the message (0 without ARC fields)."""
    oldest_pass: int | None = None
    """For ``pass``: the oldest instance from which every AMS still verifies, 0 when all do
    (``header.oldest-pass``); None otherwise."""
    sealers: tuple[str, ...] = ()
    """For ``pass``: the ``d=`` of each ARC-Seal, instance 1 first."""


@dataclass(frozen=True, slots=True)
class _ArcSet:
    """One instance's three fields, the signatures read."""

    instance: int
    aar: HeaderField
    ams: HeaderField
    seal: HeaderField
    message_signature: Signature
    seal_signature: Signature


class _Broken(Exception):
    """The chain's structure is invalid (the message says why)."""


# --------------------------------------------------------------------------- validation

def validate(message: bytes, *, now: int, clock_skew: int = 300) -> Flow[ArcResult]:
    """Validate the ARC chain of ``message`` (CRLF line endings) at time ``now`` (seconds since
    the epoch; ``t=`` and ``x=`` are judged with ``clock_skew`` seconds of allowance)."""
    fields, body = split_message(message)
    newest = _newest_instance(fields)
    if not any(f.lname in _NAMES for f in fields):
        return ArcResult(ArcStatus.NONE, "no ARC header fields")
    try:
        sets = _chain(fields)
    except _Broken as broken:
        return ArcResult(ArcStatus.FAIL, str(broken), newest)
    signatures = [s.message_signature for s in sets] + [s.seal_signature for s in sets]
    names = list(dict.fromkeys(sig.key_name for sig in signatures))
    answers = yield from lookup_all(DnsQuery(name, RRType.TXT) for name in names)
    keys = dict(zip(names, answers, strict=True))
    bodies = BodyHashes(body)

    def ams_refusal(arc_set: _ArcSet) -> Refusal | None:
        signature = arc_set.message_signature
        try:
            check_times(signature, now, clock_skew)
            key = usable_key(keys[signature.key_name], signature)
            check_message(key, signature, arc_set.ams, fields, bodies, allow_partial_body=False)
        except Refusal as refusal:
            return refusal
        return None

    if refusal := ams_refusal(sets[-1]):
        return ArcResult(ArcStatus.FAIL, f"ARC-Message-Signature i={newest}: {refusal.reason}", newest)
    oldest_pass = next((s.instance + 1 for s in reversed(sets[:-1]) if ams_refusal(s)), 0)
    for arc_set in reversed(sets):
        try:
            _check_seal(arc_set, sets, keys[arc_set.seal_signature.key_name], now, clock_skew)
        except Refusal as refusal:
            reason = f"ARC-Seal i={arc_set.instance}: {refusal.reason}"
            return ArcResult(ArcStatus.FAIL, reason, newest)
    sealers = tuple(s.seal_signature.domain for s in sets)
    return ArcResult(ArcStatus.PASS, f"{newest} ARC sets verified", newest, oldest_pass, sealers)


def _check_seal(arc_set: _ArcSet, sets: Sequence[_ArcSet], answer: DnsAnswer, now: int, skew: int) -> None:
    signature = arc_set.seal_signature
    check_times(signature, now, skew)
    key = usable_key(answer, signature)
    covered = [(s.aar, s.ams, s.seal) for s in sets[: arc_set.instance]]
    check_signature(key, signature, _seal_input(covered))


def _seal_input(sets: Sequence[tuple[HeaderField, HeaderField, HeaderField]]) -> bytes:
    """What an ARC-Seal signs (RFC 8617 5.1.1): AAR, AMS, AS of each set, oldest first, relaxed;
    the last seal with its ``b=`` emptied and without its final CRLF."""
    parts = []
    for index, (aar, ams, seal_field) in enumerate(sets):
        parts += [canonicalize_header(aar, "relaxed"), canonicalize_header(ams, "relaxed")]
        if index < len(sets) - 1:
            parts.append(canonicalize_header(seal_field, "relaxed"))
        else:
            parts.append(signature_field_for_hash(seal_field.raw, "relaxed"))
    return b"".join(parts)


def _chain(fields: Sequence[HeaderField]) -> list[_ArcSet]:
    """The ARC sets, instance 1 first, if the structure is valid (steps 2 and 3 above)."""
    groups: dict[int, dict[bytes, list[HeaderField]]] = {}
    for field in fields:
        if field.lname in _NAMES:
            groups.setdefault(_instance(field), {}).setdefault(field.lname, []).append(field)
    newest = max(groups)
    seals = groups[newest].get(AS, [])
    if len(seals) == 1 and _cv(seals[0]) == "fail":
        raise _Broken(f"the chain was already failed (ARC-Seal i={newest} has cv=fail)")
    missing = sorted(set(range(1, newest + 1)) - set(groups))
    if missing:
        raise _Broken(f"no ARC set with i={missing[0]} (instances must run 1..{newest})")
    sets = []
    for instance in range(1, newest + 1):
        group = groups[instance]
        for name in (AAR, AMS, AS):
            if len(group.get(name, [])) != 1:
                count = len(group.get(name, []))
                raise _Broken(f"i={instance} has {count} {_NAMES[name]} fields, not one")
        (aar,), (ams,), (seal_field,) = group[AAR], group[AMS], group[AS]
        message_signature, seal_signature = _signature(ams, "ams"), _signature(seal_field, "as")
        expected = "none" if instance == 1 else "pass"
        if seal_signature.cv != expected:
            raise _Broken(f"ARC-Seal i={instance} has cv={seal_signature.cv}, not {expected}")
        sets.append(_ArcSet(instance, aar, ams, seal_field, message_signature, seal_signature))
    return sets


def _instance(field: HeaderField) -> int:
    """The instance of an ARC field; :class:`_Broken` if it has none that is valid."""
    name = _NAMES[field.lname]
    try:
        if field.lname == AAR:
            match = _AAR_INSTANCE.match(field.value)
            if match is None:
                raise DkimError("does not begin with i=<instance>;")
            return parse_instance(match.group(1).decode("ascii"))
        value = parse_tag_list(field.value).get("i")
        if value is None:
            raise DkimError("i= is missing")
        return parse_instance(value)
    except DkimError as exc:
        raise _Broken(f"{name}: {exc}") from None


def _signature(field: HeaderField, kind: SignatureKind) -> Signature:
    try:
        return parse_signature(field.value, kind)
    except DkimError as exc:
        raise _Broken(f"{_NAMES[field.lname]}: {exc}") from None


def _cv(field: HeaderField) -> str | None:
    try:
        return parse_tag_list(field.value).get("cv")
    except DkimError:
        return None


def _newest_instance(fields: Sequence[HeaderField]) -> int:
    """The highest instance any ARC field claims (fields without a valid one are skipped)."""
    newest = 0
    for field in fields:
        if field.lname in _NAMES:
            try:
                newest = max(newest, _instance(field))
            except _Broken:
                pass
    return newest


# --------------------------------------------------------------------------- sealing

def seal(
    message: bytes,
    *,
    authres: str,
    key: SigningKey,
    timestamp: int | None,
    chain: ArcResult,
    headers: Sequence[str] = ARC_HEADERS,
) -> bytes:
    """The ARC-Seal, ARC-Message-Signature and ARC-Authentication-Results fields (in that order,
    each folded and ending in CRLF) to prepend to ``message``; ``b""`` when no set is to be added
    (the newest seal already says ``cv=fail``, or the chain has 50 sets).

    ``authres`` is this hop's Authentication-Results payload, authserv-id first
    (``"mx.example.org; arc=pass; spf=pass smtp.mailfrom=example.org; dkim=pass ..."``); its
    whitespace is normalised. ``chain`` is :func:`validate`'s result for ``message``: its status
    becomes ``cv=``. ``headers`` are signed by the AMS when present (each as often as it occurs).
    The key is the one of DKIM signing (``d=``, ``s=``; RSA for the widest support).
    Raises :class:`DkimError` when ``chain`` does not fit the message, or for a bad key,
    ``authres`` or header list."""
    fields, body = split_message(message)
    newest = _newest_instance(fields)
    if (chain.status is ArcStatus.NONE and newest) or (chain.status is ArcStatus.PASS and not newest):
        raise DkimError(f"ARC validation said {chain.status}, but the message has {newest} ARC sets")
    newest_seals = [f for f in fields if f.lname == AS and _instance_or_zero(f) == newest]
    if any(_cv(f) == "fail" for f in newest_seals) or newest >= ARC_MAX_INSTANCE:
        return b""
    for name in (key.domain, key.selector):
        if not (name.isascii() and is_valid_name(name)):
            raise DkimError(f"invalid ARC signing domain or selector {name!r} (ASCII, A-labels for IDN)")
    instance = newest + 1
    aar = _aar(instance, authres)
    ams = _message_signature(fields, body, key, instance, timestamp, headers)
    if chain.status is ArcStatus.PASS:
        try:
            prior = [(s.aar, s.ams, s.seal) for s in _chain(fields)]
        except _Broken as broken:
            raise DkimError(f"ARC validation said pass, but the chain is broken: {broken}") from None
    else:
        prior = []  # none, or a failed chain: the seal covers only its own set (RFC 8617 5.1.2)
    tags = [("a", key.algorithm), ("b", ""), ("cv", chain.status.value), ("d", key.domain),
            ("i", str(instance)), ("s", key.selector)]
    if timestamp is not None:
        tags.append(("t", str(timestamp)))
    template = HeaderField.from_raw(_render("ARC-Seal", tags))
    signature = sign_data(key.private_key, _seal_input([*prior, (aar, ams, template)]))
    tags[1] = ("b", base64.b64encode(signature).decode("ascii"))
    return _render("ARC-Seal", tags) + ams.raw + aar.raw


def _instance_or_zero(field: HeaderField) -> int:
    try:
        return _instance(field)
    except _Broken:
        return 0


def _aar(instance: int, authres: str) -> HeaderField:
    words = authres.split()
    if not words:
        raise DkimError("empty Authentication-Results payload for the AAR")
    text = "\r\n".join(_wrap(f"ARC-Authentication-Results: i={instance};", words))
    return HeaderField.from_raw(text.encode("utf-8") + b"\r\n")


def _message_signature(
    fields: Sequence[HeaderField], body: bytes, key: SigningKey, instance: int, timestamp: int | None,
    headers: Sequence[str],
) -> HeaderField:
    names = _signed_names(fields, headers)
    bh = BodyHashes(body).get("relaxed", "sha256", None)
    tags = [("a", key.algorithm), ("b", ""), ("bh", base64.b64encode(bh.digest).decode("ascii")),
            ("c", "relaxed/relaxed"), ("d", key.domain), ("h", ":".join(names)), ("i", str(instance)),
            ("s", key.selector)]
    if timestamp is not None:
        tags.append(("t", str(timestamp)))
    template = _render("ARC-Message-Signature", tags)
    signed = [canonicalize_header(f, "relaxed") for f in select_headers(fields, names) if f is not None]
    data = b"".join(signed) + signature_field_for_hash(template, "relaxed")
    tags[1] = ("b", base64.b64encode(sign_data(key.private_key, data)).decode("ascii"))
    return HeaderField.from_raw(_render("ARC-Message-Signature", tags))


def _signed_names(fields: Sequence[HeaderField], headers: Sequence[str]) -> list[str]:
    """Each name of ``headers`` present in the message, as often as it occurs (first spelling)."""
    counts: dict[bytes, int] = {}
    for field in fields:
        counts[field.lname] = counts.get(field.lname, 0) + 1
    names: list[str] = []
    seen: set[str] = set()
    for name in headers:
        lowered = name.lower()
        if not _FIELD_NAME.match(name):
            raise DkimError(f"invalid header field name {name!r}")
        if lowered in _NEVER_SIGNED:
            raise DkimError(f"an ARC-Message-Signature must not sign {name}")
        if lowered not in seen:
            seen.add(lowered)
            names += [name] * counts.get(lowered.encode("ascii"), 0)
    return names


def _render(name: str, tags: Sequence[tuple[str, str]]) -> bytes:
    """``name: tag=value; ...``, folded between tags only: no value is cut, so the field reads the
    same (relaxed) with ``b=`` empty or filled in, and is the suite's standard layout. A line can
    be long (``b=`` of an RSA-2048 key: 350 characters; RFC 5322 allows 998)."""
    last = len(tags) - 1
    words = [f"{tag}={value}{';' if index < last else ''}" for index, (tag, value) in enumerate(tags)]
    return "\r\n".join(_wrap(name + ":", words)).encode("ascii") + b"\r\n"


def _wrap(line: str, words: Sequence[str]) -> list[str]:
    """``line`` continued with ``words``, one space apart, a new line where one would run long."""
    lines = [line]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > _WIDTH and lines[-1].strip():
            lines.append(" " + word)
        else:
            lines[-1] += " " + word
    return lines
