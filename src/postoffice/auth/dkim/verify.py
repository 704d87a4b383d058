"""DKIM verification (RFC 6376 6, RFC 8463 Ed25519, RFC 8301 crypto updates), as a DNS flow.

:func:`verify` checks every DKIM-Signature of a message and gives one :class:`DkimResult` per
field, top to bottom. It is a flow (:mod:`postoffice.auth.dns`): it yields the key queries, all
at once, and is sent the answers::

    results = run_sync(verify(message, now=clock_now), zone)          # tests
    results = await run_async(verify(message, now=clock_now), resolver)  # production

Theory of operation
-------------------
For each signature, in this order (a signature refused at one step is not looked at further, and
costs no DNS query if refused before step 4):

1. parse the field (:mod:`~postoffice.auth.dkim.signature`): a malformed one is ``neutral``;
2. policy: ``rsa-sha1`` is refused unless :attr:`VerifyPolicy.allow_sha1` (RFC 8301 3.1);
3. ``x=`` and ``t=`` against ``now``;
4. the key record, fetched for all remaining signatures in one batch, judged for the signature
   (``k=``, ``h=``, ``s=``, revoked). It comes before the body so that every checked signature's
   result says whether its domain is testing (``t=y``) and how long its key is;
5. ``t=s``: ``i=`` must be in ``d=`` itself;
6. the body hash; one whose ``l=`` leaves part of the body unsigned is refused unless
   :attr:`VerifyPolicy.allow_partial_body` (anyone could have appended that part); then ``b=``
   over the header data built by the canonicalisation the signer shares (RSA keys under 1024
   bits fail here).

The result names and what leads to each are in :class:`~postoffice.auth.dkim.checks.DkimStatus`
and the checks module. A key record with ``t=y`` does not change the result; the result says
:attr:`DkimResult.testing`, and RFC 6376 asks that such a failure be treated like no signature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from postoffice.auth.dkim.canonical import HeaderField, split_message
from postoffice.auth.dkim.checks import (
    BodyHashes,
    DkimStatus,
    Refusal,
    check_message,
    check_times,
    usable_key,
)
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import KeyRecord
from postoffice.auth.dkim.signature import Signature, a_label, parse_signature
from postoffice.auth.dkim.tags import parse_tag_list, remove_whitespace
from postoffice.auth.dns import DnsAnswer, DnsQuery, Flow, RRType, lookup_all

__all__ = ["DEFAULT_POLICY", "DkimResult", "DkimStatus", "VerifyPolicy", "verify"]

HEADER_B_MIN = 8  # RFC 6008 2: header.b carries at least 8 characters of b=


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """What the verifier accepts beyond the RFC's requirements."""

    allow_sha1: bool = False
    """Check ``rsa-sha1`` signatures; by default they are refused (``policy``), as RFC 8301 asks."""
    allow_partial_body: bool = False
    """Accept a signature whose ``l=`` leaves body content unsigned; by default it is ``policy``."""
    clock_skew: int = 300
    """Seconds of clock difference allowed when judging ``x=`` and ``t=``."""
    max_signatures: int = 10
    """Signatures checked per message; later ones get ``policy`` without being looked at."""


DEFAULT_POLICY = VerifyPolicy()


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The result of one DKIM-Signature."""

    status: DkimStatus
    """``pass``, ``fail``, ``neutral``, ``temperror``, ``permerror`` or ``policy``."""
    reason: str
    """Why, in one line (for logs and an Authentication-Results ``reason=``)."""
    domain: str = ""
    """``d=`` (empty if the field gave none)."""
    selector: str = ""
    """``s=``."""
    algorithm: str = ""
    """``a=``."""
    identity: str = ""
    """``i=`` decoded, ``@`` + ``d=`` by default (empty if the field could not be read)."""
    header_b: str = ""
    """The start of ``b=`` that tells this signature apart (``header.b``, RFC 6008)."""
    testing: bool = False
    """The key record says ``t=y``: the domain is testing DKIM."""
    key_bits: int | None = None
    """The RSA key size, when a key was used."""

    @property
    def passed(self) -> bool:
        """True for ``pass``."""
        return self.status is DkimStatus.PASS


@dataclass(slots=True)
class _Pending:
    """A signature that got past the checks without DNS, waiting for its key."""

    index: int
    field: HeaderField
    signature: Signature


def verify(message: bytes, *, now: int, policy: VerifyPolicy = DEFAULT_POLICY) -> Flow[list[DkimResult]]:
    """Verify every DKIM-Signature of ``message`` (CRLF line endings) at time ``now`` (seconds
    since the epoch). One result per signature, in header order; none for an unsigned message."""
    fields, body = split_message(message)
    signature_fields = [f for f in fields if f.lname == b"dkim-signature"]
    results: list[DkimResult | None] = [None] * len(signature_fields)
    b_values = [""] * len(signature_fields)
    bodies = BodyHashes(body)
    pending: list[_Pending] = []
    for index, field in enumerate(signature_fields):
        if index >= policy.max_signatures:
            results[index], b_values[index] = _unread(field, DkimStatus.POLICY, f"more than {policy.max_signatures} signatures")
            continue
        try:
            signature = parse_signature(field.value, "dkim")
        except DkimError as exc:
            results[index], b_values[index] = _unread(field, DkimStatus.NEUTRAL, str(exc))
            continue
        b_values[index] = signature.b64
        try:
            _before_dns(signature, now, policy)
        except Refusal as refusal:
            results[index] = _result(signature, refusal.status, refusal.reason)
            continue
        pending.append(_Pending(index, field, signature))
    names = list(dict.fromkeys(p.signature.key_name for p in pending))
    answers = yield from lookup_all(DnsQuery(name, RRType.TXT) for name in names)
    by_name = dict(zip(names, answers, strict=True))
    for item in pending:
        results[item.index] = _finish(item, by_name[item.signature.key_name], fields, bodies, policy)
    done = [r for r in results if r is not None]
    return [_with_header_b(r, b, b_values) for r, b in zip(done, b_values, strict=True)]


def _before_dns(signature: Signature, now: int, policy: VerifyPolicy) -> None:
    if signature.algorithm == "rsa-sha1" and not policy.allow_sha1:
        raise Refusal(DkimStatus.POLICY, "rsa-sha1 is not accepted (RFC 8301)")
    check_times(signature, now, policy.clock_skew)


def _finish(
    item: _Pending, answer: DnsAnswer, fields: list[HeaderField], bodies: BodyHashes, policy: VerifyPolicy
) -> DkimResult:
    signature = item.signature
    key: KeyRecord | None = None
    try:
        key = usable_key(answer, signature)
        if key.strict and _identity_domain(signature) != a_label(signature.domain).lower():
            raise Refusal(DkimStatus.PERMERROR, f"key record t=s: i={signature.identity} must be in d= itself")
        check_message(key, signature, item.field, fields, bodies, allow_partial_body=policy.allow_partial_body)
    except Refusal as refusal:
        return _result(signature, refusal.status, refusal.reason, key)
    return _result(signature, DkimStatus.PASS, "signature verified", key)


def _identity_domain(signature: Signature) -> str:
    return a_label(signature.identity.rpartition("@")[2]).lower()


def _result(signature: Signature, status: DkimStatus, reason: str, key: KeyRecord | None = None) -> DkimResult:
    testing = key is not None and key.testing
    if testing:
        reason += " (key in testing mode, t=y)"
    return DkimResult(
        status=status,
        reason=reason,
        domain=signature.domain,
        selector=signature.selector,
        algorithm=signature.algorithm,
        identity=signature.identity,
        testing=testing,
        key_bits=key.bits if key is not None else None,
    )


def _unread(field: HeaderField, status: DkimStatus, reason: str) -> tuple[DkimResult, str]:
    """A result for a field that was not read as a signature, with what its tags say if they
    parse; and its ``b=`` (whitespace removed)."""
    try:
        tags = parse_tag_list(field.value)
    except DkimError:
        tags = {}
    result = DkimResult(status, reason, domain=tags.get("d", ""), selector=tags.get("s", ""),
                        algorithm=tags.get("a", ""))
    return result, remove_whitespace(tags.get("b", ""))


def _with_header_b(result: DkimResult, b: str, all_b: list[str]) -> DkimResult:
    """``result`` with the shortest prefix of ``b`` (at least 8 characters) that no other
    signature of the message starts with."""
    others = [o for o in all_b if o != b]
    length = HEADER_B_MIN
    while length < len(b) and any(o.startswith(b[:length]) for o in others):
        length += 1
    return replace(result, header_b=b[:length])
