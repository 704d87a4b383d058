"""The steps that check a signature, shared by DKIM verification and ARC validation.

Each step returns quietly or raises :class:`Refusal` with the result it leads to (RFC 8601
spelling) and a one-line reason. The order a verifier takes them in:

1. :func:`check_times`: ``x=`` not passed, ``t=`` not in the future (give or take the clock skew);
2. the key: ask for :attr:`Signature.key_name` (TXT), then :func:`usable_key` on the answer;
3. :func:`check_body`: ``bh=`` against the canonical body (hashes are shared through
   :class:`BodyHashes`: several signatures over one body canonicalise it once);
4. :func:`check_signature`: ``b=`` over the header data, with that key.

:func:`check_message` is steps 3 and 4 for the signatures that cover a message (DKIM-Signature,
ARC-Message-Signature); an ARC-Seal signs other data and calls :func:`check_signature` itself.

What each refusal means:

* ``temperror``: the key could not be fetched for now (SERVFAIL, timeout);
* ``permerror``: no key record, or one that is malformed, revoked, or not for this signature
  (``k=``, ``h=``, ``s=`` exclude it);
* ``fail``: the signature was checked and is not valid: expired, dated in the future, body hash
  or signature mismatch, ``l=`` longer than the body, an RSA key under 1024 bits (RFC 8301);
* ``policy``: ``l=`` leaves part of the body unsigned, and the caller does not accept that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from postoffice.auth.dkim.canonical import (
    BodyHash,
    Canonicalization,
    HeaderField,
    body_hash,
    header_hash_input,
)
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import MIN_RSA_BITS, KeyRecord, parse_key_record
from postoffice.auth.dkim.signature import Signature
from postoffice.auth.dns import DnsAnswer, DnsError

__all__ = [
    "BodyHashes",
    "DkimStatus",
    "Refusal",
    "check_body",
    "check_message",
    "check_signature",
    "check_times",
    "usable_key",
]


class DkimStatus(StrEnum):
    """The result of checking one signature, as Authentication-Results spells it (RFC 8601)."""

    PASS = "pass"
    """The signature verified."""
    FAIL = "fail"
    """The signature was checked and is not valid."""
    NEUTRAL = "neutral"
    """The signature field is malformed (syntax, missing or unsupported tags)."""
    TEMPERROR = "temperror"
    """The key could not be fetched for now; try again later."""
    PERMERROR = "permerror"
    """The key is missing, malformed, revoked, or not usable for this signature."""
    POLICY = "policy"
    """Refused by the verifier's policy (``rsa-sha1``, ``l=`` leaving body unsigned, ...)."""


class Refusal(Exception):
    """A signature's check stopped: the result it gets and why."""

    def __init__(self, status: DkimStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BodyHashes:
    """Body hashes of one message body, each computed once."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._done: dict[tuple[Canonicalization, str, int | None], BodyHash] = {}

    def get(self, method: Canonicalization, algorithm: str, length: int | None) -> BodyHash:
        """The hash of the body canonicalised by ``method`` (its first ``length`` octets)."""
        key = (method, algorithm, length)
        if key not in self._done:
            self._done[key] = body_hash(self._body, method, length=length, algorithm=algorithm)
        return self._done[key]


def check_times(signature: Signature, now: int, skew: int) -> None:
    """``x=`` not passed and ``t=`` not in the future, each allowing ``skew`` seconds."""
    if signature.expiry is not None and signature.expiry + skew < now:
        raise Refusal(DkimStatus.FAIL, f"signature expired (x={signature.expiry})")
    if signature.timestamp is not None and signature.timestamp > now + skew:
        raise Refusal(DkimStatus.FAIL, f"signature timestamp is in the future (t={signature.timestamp})")


def check_body(signature: Signature, bodies: BodyHashes) -> BodyHash:
    """The body hash matches ``bh=``; returns it (for the caller to judge ``l=``)."""
    computed = bodies.get(signature.canonicalization[1], signature.hash_name, signature.length)
    if signature.length is not None and signature.length > computed.canonical_length:
        raise Refusal(DkimStatus.FAIL, f"l={signature.length} is longer than the body "
                                       f"({computed.canonical_length} octets)")
    if computed.digest != signature.body_hash:
        raise Refusal(DkimStatus.FAIL, "body hash did not verify")
    return computed


def usable_key(answer: DnsAnswer, signature: Signature) -> KeyRecord:
    """The key record in ``answer`` (to the question for :attr:`Signature.key_name`), if it
    can check ``signature``. The first TXT record that is a DKIM key record counts."""
    if answer.temporary:
        raise Refusal(DkimStatus.TEMPERROR, f"key lookup failed: {answer.error} at {answer.query.name}")
    if answer.error in (DnsError.NXDOMAIN, DnsError.NODATA):
        raise Refusal(DkimStatus.PERMERROR, f"no key record at {answer.query.name} ({answer.error})")
    problems = []
    for text in answer.texts:
        try:
            key = parse_key_record(text)
            break
        except DkimError as exc:
            problems.append(str(exc))
    else:
        raise Refusal(DkimStatus.PERMERROR, problems[0] if problems else "no key record")
    if key.revoked:
        raise Refusal(DkimStatus.PERMERROR, "key revoked (empty p=)")
    if key.key_type != signature.key_type:
        raise Refusal(DkimStatus.PERMERROR, f"key type k={key.key_type} does not match a={signature.algorithm}")
    if not key.allows_hash(signature.hash_name):
        raise Refusal(DkimStatus.PERMERROR, f"key record h= does not allow {signature.hash_name}")
    if not key.for_email:
        raise Refusal(DkimStatus.PERMERROR, "key record s= does not include email")
    return key


def check_signature(key: KeyRecord, signature: Signature, data: bytes) -> None:
    """``b=`` is a valid signature of ``data`` (the header hash input) under ``key``, and the key
    is strong enough to count (RSA: at least 1024 bits, RFC 8301 3.2)."""
    if key.bits is not None and key.bits < MIN_RSA_BITS:
        raise Refusal(DkimStatus.FAIL, f"RSA key of {key.bits} bits is too short (RFC 8301: at least {MIN_RSA_BITS})")
    public = key.public_key
    try:
        if isinstance(public, rsa.RSAPublicKey):
            digest = hashes.SHA256() if signature.hash_name == "sha256" else hashes.SHA1()
            public.verify(signature.signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature.signature, hashlib.sha256(data).digest())  # RFC 8463 3
        else:  # pragma: no cover - usable_key lets no other key through
            raise Refusal(DkimStatus.PERMERROR, "unusable key")
    except InvalidSignature:
        raise Refusal(DkimStatus.FAIL, "signature did not verify") from None


def check_message(
    key: KeyRecord,
    signature: Signature,
    field: HeaderField,
    fields: Sequence[HeaderField],
    bodies: BodyHashes,
    *,
    allow_partial_body: bool,
) -> None:
    """The body hash, then ``b=`` of a signature ``field`` over the message's ``fields``."""
    hashed = check_body(signature, bodies)
    if hashed.hashed_length < hashed.canonical_length and not allow_partial_body:
        unsigned = hashed.canonical_length - hashed.hashed_length
        raise Refusal(DkimStatus.POLICY, f"l= leaves {unsigned} octets of the body unsigned")
    data = header_hash_input(fields, signature.headers, field.raw, signature.canonicalization[0])
    check_signature(key, signature, data)
