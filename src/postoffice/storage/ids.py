"""Message ids: short, unique across processes, sortable by time.

An id is 26 characters of Crockford base32 (digits and upper-case letters without I, L, O, U),
like a ULID: 48 bits of milliseconds since the epoch, then 80 random bits. Safe in file names,
Received headers and URLs; sorting ids as strings sorts them by time. Within one process, ids
made in the same millisecond increment the random part, so they sort in creation order too.
"""

from __future__ import annotations

import os
import threading

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 26
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_TIME_MAX = (1 << 48) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _forget_last() -> None:
    # A forked child must not continue its parent's sequence (same ms, same random part).
    global _last_ms
    _last_ms = -1


os.register_at_fork(after_in_child=_forget_last)


def new_message_id(now: float) -> str:
    """A new id for a message received at `now` (seconds since the epoch)."""
    global _last_ms, _last_random
    ms = min(max(int(now * 1000), 0), _TIME_MAX)
    with _lock:
        if ms == _last_ms and _last_random < _RANDOM_MAX:
            rand = _last_random + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_random = ms, rand
    return _encode((ms << _RANDOM_BITS) | rand)


def id_time(message_id: str) -> float:
    """The time (seconds) encoded in an id; raises ValueError for a malformed id."""
    if len(message_id) != LENGTH:
        raise ValueError(f"not a message id: {message_id!r}")
    value = 0
    for char in message_id.upper():
        digit = ALPHABET.find(char)
        if digit < 0:
            raise ValueError(f"not a message id: {message_id!r}")
        value = value * 32 + digit
    return (value >> _RANDOM_BITS) / 1000


def _encode(value: int) -> str:
    chars = []
    for _ in range(LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
