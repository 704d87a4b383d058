"""API keys: how they look, and what is kept of them.

A key is `po_<id>_<secret>`: the id (12 hex digits) names it in lists and logs, the secret
(32 random bytes, URL-safe base64) proves it. Only the SHA-256 of the whole key is stored: the
secret is random, so a slow password hash would add nothing but latency to every request."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final, Literal, get_args

Scope = Literal["send", "read", "admin"]
SCOPES: Final = get_args(Scope)
"""send: send mail; read: also read logs, events and stats; admin: also manage the tenant."""
_KEY = re.compile(r"po_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class NewKey:
    id: str
    key: str
    """The whole key, shown once."""
    digest: str
    """What the store keeps."""


def make_key() -> NewKey:
    key_id = secrets.token_hex(6)
    key = f"po_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, key, digest(key))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key: str) -> str | None:
    """The id of a well-formed key; None for anything else."""
    match = _KEY.fullmatch(key)
    return match.group(1) if match else None


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)


def allows(granted: str, needed: str) -> bool:
    """Whether a key of scope `granted` may do what needs `needed` (admin > read > send)."""
    return SCOPES.index(granted) >= SCOPES.index(needed)
