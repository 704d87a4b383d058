"""Password hashing: scrypt (RFC 7914) in a self-describing string; passwords are never stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """"$scrypt$n=..,r=..,p=..$<salt>$<hash>" with base64 (no padding) parts."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"${_SCHEME}$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a hash_password() string."""
    try:
        _, scheme, params, salt_b64, digest_b64 = stored.split("$")
        if scheme != _SCHEME:
            return False
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_b64), _unb64(digest_b64)
    except (ValueError, KeyError):
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**27
    )
    return hmac.compare_digest(digest, expected)


def generate_password() -> str:
    """A password to print once at init: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))
