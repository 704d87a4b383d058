"""DKIM keys: generating, serialising and loading them; the DNS record that publishes one.

Two algorithms: ``rsa-sha256`` with RSA keys (2048 bits by default; RFC 8301 forbids signing
with fewer than 1024) and ``ed25519-sha256`` (RFC 8463). Private keys are stored as unencrypted
PKCS#8 PEM; :mod:`postoffice.auth.dkim.keyfile` writes them with mode 0600.

Selector names
--------------
postoffice names the selectors of the keys it creates ``po<YYYY>m<MM><a>[<n>]``:

* ``po``: the key was made by postoffice;
* ``<YYYY>m<MM>``: year and month the key was created (``2026m11``: November 2026);
* ``<a>``: the algorithm, ``r`` for RSA, ``e`` for Ed25519;
* ``<n>``: only for a second (third, ...) key of the same algorithm in the same month: 2, 3, ...

So ``po2026m11r`` and ``po2026m11e`` are the RSA and Ed25519 keys of November 2026, and
``po2026m11r2`` the RSA key that replaced ``po2026m11r`` in the same month. Names sort by date
within an algorithm, say what a record is for at a glance in a zone file, and never collide
between the two keys of one rotation. :func:`parse_selector` reads them back (and returns ``None``
for selectors postoffice did not make, which it leaves alone).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.tags import parse_tag_list, remove_whitespace

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "KeyRecord",
    "PrivateKey",
    "PublicKey",
    "SelectorName",
    "generate_key",
    "key_algorithm",
    "load_private_key",
    "parse_key_record",
    "parse_selector",
    "private_key_pem",
    "public_key_from_record",
    "public_key_record",
    "record_name",
    "selector_name",
    "txt_strings",
    "zone_file_value",
]

Algorithm = Literal["rsa-sha256", "ed25519-sha256"]
ALGORITHMS: tuple[Algorithm, ...] = ("rsa-sha256", "ed25519-sha256")
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

DEFAULT_RSA_BITS = 2048
MIN_RSA_BITS = 1024  # RFC 8301 3.2: signers MUST use at least 1024 bits
TXT_STRING_MAX = 255  # octets in one <character-string> of a TXT record (RFC 1035 3.3)

_ALGORITHM_LETTER: dict[Algorithm, str] = {"rsa-sha256": "r", "ed25519-sha256": "e"}
_SELECTOR = re.compile(r"po(\d{4})m(\d{2})([re])([2-9]|[1-9]\d+)?\Z")


def generate_key(algorithm: Algorithm = "rsa-sha256", *, rsa_bits: int = DEFAULT_RSA_BITS) -> PrivateKey:
    """A new private key for ``algorithm``."""
    if algorithm == "rsa-sha256":
        if rsa_bits < MIN_RSA_BITS:
            raise DkimError(f"RSA keys for DKIM need at least {MIN_RSA_BITS} bits, not {rsa_bits}")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if algorithm == "ed25519-sha256":
        return ed25519.Ed25519PrivateKey.generate()
    raise DkimError(f"unknown DKIM algorithm {algorithm!r}")


def key_algorithm(key: PrivateKey | PublicKey) -> Algorithm:
    """The signing algorithm (``a=``) a key is used with."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa-sha256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519-sha256"
    raise DkimError(f"unsupported DKIM key type {type(key).__name__}")


def private_key_pem(key: PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (``-----BEGIN PRIVATE KEY-----``)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(data: bytes) -> PrivateKey:
    """A private key from PEM (PKCS#8, or PKCS#1 ``RSA PRIVATE KEY``), or from the base64 of a
    raw 32-octet Ed25519 seed (the form dkimpy and RFC 8463's examples use)."""
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise DkimError(f"cannot load DKIM private key: {exc}") from None
    else:
        try:
            seed = base64.b64decode(b"".join(data.split()), validate=True)
        except binascii.Error:
            raise DkimError("DKIM private key is neither PEM nor a base64 Ed25519 seed") from None
        if len(seed) != 32:
            raise DkimError("DKIM private key is neither PEM nor a base64 Ed25519 seed")
        key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise DkimError(f"RSA key of {key.key_size} bits is too short for DKIM (min {MIN_RSA_BITS})")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise DkimError(f"unsupported DKIM key type {type(key).__name__}")


def _public_key_data(key: PublicKey) -> bytes:
    if isinstance(key, rsa.RSAPublicKey):
        # SubjectPublicKeyInfo DER, as RFC 6376 3.6.1 asks and every verifier reads.
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # RFC 8463 4.2


def public_key_record(key: PrivateKey | PublicKey, *, testing: bool = False) -> str:
    """The TXT record value that publishes ``key``: ``v=DKIM1; k=rsa; p=...`` or ``k=ed25519``.

    ``testing`` adds ``t=y`` (verifiers must not treat failures differently from unsigned mail)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) else key
    k = "rsa" if isinstance(public, rsa.RSAPublicKey) else "ed25519"
    p = base64.b64encode(_public_key_data(public)).decode("ascii")
    return f"v=DKIM1; k={k};{' t=y;' if testing else ''} p={p}"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A DKIM key record (RFC 6376 3.6.1), as published at ``<selector>._domainkey.<domain>``."""

    key_type: str
    """``k=``: ``rsa`` (the default) or ``ed25519``."""
    public_key: PublicKey | None
    """The key from ``p=``; None when ``p=`` is empty: the key has been revoked."""
    hashes: frozenset[str] | None = None
    """``h=``: the hash algorithms the key may be used with (``sha256``, ...); None: any."""
    services: frozenset[str] = frozenset({"*"})
    """``s=``: the service types the key is for (``email``, ``*``, ...)."""
    flags: frozenset[str] = frozenset()
    """``t=``: ``y`` (the domain is testing DKIM), ``s`` (``i=`` must be exactly ``d=``), ..."""

    @property
    def revoked(self) -> bool:
        """True when ``p=`` is empty."""
        return self.public_key is None

    @property
    def testing(self) -> bool:
        """``t=y``: failures must not be treated differently from unsigned mail."""
        return "y" in self.flags

    @property
    def strict(self) -> bool:
        """``t=s``: the domain of ``i=`` must be ``d=`` itself, not a subdomain."""
        return "s" in self.flags

    @property
    def bits(self) -> int | None:
        """The RSA modulus size; None for other keys."""
        return self.public_key.key_size if isinstance(self.public_key, rsa.RSAPublicKey) else None

    def allows_hash(self, hash_name: str) -> bool:
        """True when ``h=`` is absent or lists ``hash_name``."""
        return self.hashes is None or hash_name in self.hashes

    @property
    def for_email(self) -> bool:
        """True when ``s=`` includes ``email`` or ``*``."""
        return bool(self.services & {"email", "*"})


def _colon_list(value: str) -> frozenset[str]:
    return frozenset(item for item in remove_whitespace(value).split(":") if item)


def parse_key_record(record: str | bytes) -> KeyRecord:
    """Read a DKIM key record. Raises :class:`DkimError` for a record that is not one, or that
    is malformed: a tag-list error, ``v=`` other than ``DKIM1`` or not first, an unknown ``k=``,
    a ``p=`` that is not base64 or not a key of that type. Unknown tags are ignored."""
    tags = parse_tag_list(record)
    if "v" in tags:
        if tags["v"] != "DKIM1":
            raise DkimError(f"DKIM key record has v={tags['v']}")
        if next(iter(tags)) != "v":
            raise DkimError("DKIM key record has v= after other tags")
    key_type = tags.get("k", "rsa")
    if key_type not in ("rsa", "ed25519"):
        raise DkimError(f"DKIM key record has unknown key type k={key_type}")
    if "p" not in tags:
        raise DkimError("DKIM key record has no p= tag")
    p = remove_whitespace(tags["p"])
    public_key = _public_key(key_type, p) if p else None
    return KeyRecord(
        key_type=key_type,
        public_key=public_key,
        hashes=_colon_list(tags["h"]) if "h" in tags else None,
        services=_colon_list(tags["s"]) if "s" in tags else frozenset({"*"}),
        flags=_colon_list(tags.get("t", "")),
    )


def _public_key(key_type: str, p: str) -> PublicKey:
    try:
        data = base64.b64decode(p, validate=True)
    except binascii.Error:
        raise DkimError("DKIM key record p= is not base64") from None
    try:
        if key_type == "ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(data)
        # SubjectPublicKeyInfo, or the bare PKCS#1 RSAPublicKey some publish (both load).
        key = serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DkimError(f"DKIM key record p= is not a valid {key_type} key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError("DKIM key record k=rsa does not hold an RSA key")
    return key


def public_key_from_record(record: str | bytes) -> PublicKey:
    """The public key of a DKIM key record (see :func:`parse_key_record`; the policy tags ``h=``,
    ``s=``, ``t=`` are for the verifier to judge). Raises :class:`DkimError` if unusable."""
    key = parse_key_record(record).public_key
    if key is None:
        raise DkimError("DKIM key record has no public key (revoked)")
    return key


def record_name(selector: str, domain: str) -> str:
    """The DNS name of a key record: ``<selector>._domainkey.<domain>``."""
    return f"{selector}._domainkey.{domain.rstrip('.')}"


def txt_strings(value: str) -> list[str]:
    """``value`` cut into the <=255-octet strings of one TXT record (DNS joins them back)."""
    data = value.encode("ascii")
    return [data[i : i + TXT_STRING_MAX].decode("ascii") for i in range(0, len(data), TXT_STRING_MAX)] or [""]


def zone_file_value(value: str) -> str:
    """The TXT record data as written in a zone file: ``"first 255 octets" "rest"``."""
    return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in txt_strings(value))


@dataclass(frozen=True, slots=True)
class SelectorName:
    """What a postoffice selector name says (see the module docstring)."""

    algorithm: Algorithm
    """The key's algorithm."""
    year: int
    """Year the key was created."""
    month: int
    """Month the key was created, 1-12."""
    serial: int = 1
    """1 for the first key of this algorithm in that month, 2 for the next, ..."""

    def __str__(self) -> str:
        letter = _ALGORITHM_LETTER[self.algorithm]
        suffix = str(self.serial) if self.serial > 1 else ""
        return f"po{self.year:04d}m{self.month:02d}{letter}{suffix}"


def selector_name(algorithm: Algorithm, when: dt.date, serial: int = 1) -> str:
    """The selector for a key of ``algorithm`` created on ``when`` (injected, never the clock):
    ``selector_name("rsa-sha256", date(2026, 11, 3)) == "po2026m11r"``."""
    if algorithm not in _ALGORITHM_LETTER:
        raise DkimError(f"unknown DKIM algorithm {algorithm!r}")
    if serial < 1:
        raise DkimError("selector serial starts at 1")
    return str(SelectorName(algorithm, when.year, when.month, serial))


def parse_selector(selector: str) -> SelectorName | None:
    """What a postoffice selector says, or ``None`` if postoffice did not make it."""
    m = _SELECTOR.match(selector)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    algorithm: Algorithm = "rsa-sha256" if m.group(3) == "r" else "ed25519-sha256"
    return SelectorName(algorithm, int(m.group(1)), int(m.group(2)), int(m.group(4) or 1))
