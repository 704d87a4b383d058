"""Unique, unguessable tokens for Message-IDs and MIME boundaries, made fast: a random key
drawn once per process, a counter, and BLAKE2b (an `os.urandom` call per token costs more
than composing the rest of a small message)."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets

_key = secrets.token_bytes(32)
_pid = os.getpid()
_counter = itertools.count()


def token() -> str:
    """32 hex digits, never repeated: a new key is drawn in a forked child."""
    global _key, _pid, _counter
    if os.getpid() != _pid:
        _key, _pid, _counter = secrets.token_bytes(32), os.getpid(), itertools.count()
    return hashlib.blake2b(next(_counter).to_bytes(8, "little"), key=_key,
                           digest_size=16).hexdigest()


def sortable_token(now: float) -> str:
    """A token that sorts by time: milliseconds since the epoch (12 hex digits), then 20 hex
    digits of `token()`. As a Message-ID's left part it keeps the index of the ids we send
    growing at one end (one page written per commit, where random ids write one each)."""
    return f"{max(int(now * 1000), 0):012x}.{token()[:20]}"
