"""Outbound SMTP sessions kept open between batches, so the next batch to the same place skips
the TCP, EHLO and TLS handshakes (Postfix's connection cache does the same).

A session is parked after its batch when it is still usable and has sent fewer than the
messages-per-connection limit; it waits `keep` seconds for a batch to the same destination from
the same source, then is closed with QUIT. A session older than `max_age` is not parked again.
While parked it still counts as an open connection for the throttle: `release` is what the
engine calls when the session is finally closed (by expiry or on stop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from postoffice.mta.smtp_client import SmtpClient
from postoffice.policy.throttle import ThrottleKey

KEEP = 2.0
"""Seconds an idle session waits for the next batch."""
MAX_AGE = 300.0
"""Seconds after which a session is closed after its batch instead of parked."""


@dataclass
class Parked:
    client: SmtpClient
    key: Hashable
    """What a batch must match to use it: destination hosts, TLS, AUTH and IP pool."""
    site: str
    source: str
    """The local address it leaves from ("" for the system's choice)."""
    opened_at: float
    release: Callable[[], Coroutine[Any, Any, None]]
    """Closes the session and gives its throttle slot back."""
    tkey: ThrottleKey
    """The throttle's key for the session (source IP, destination)."""
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class SessionCache:
    def __init__(self, keep: float = KEEP, max_age: float = MAX_AGE) -> None:
        self.keep = keep
        self.max_age = max_age
        self._idle: dict[Hashable, list[Parked]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def idle_sources(self, site: str) -> set[str]:
        """Source addresses with a session parked for `site`: the throttle already counts it,
        so a batch may use it even when no new connection is allowed."""
        return {p.source for entries in self._idle.values() for p in entries if p.site == site}

    def take(self, key: Hashable) -> Parked | None:
        """A parked, still usable session for `key` (the most recently parked first)."""
        entries = self._idle.get(key)
        while entries:
            parked = entries.pop()
            if parked.timer is not None:
                parked.timer.cancel()
            if parked.client.still_open():
                if not entries:
                    del self._idle[key]
                return parked
            self._close(parked)
        self._idle.pop(key, None)
        return None

    def park(self, parked: Parked, now: float) -> bool:
        """Keep the session for the next batch; False when it should be closed instead."""
        if not parked.client.usable or now - parked.opened_at >= self.max_age:
            return False
        loop = asyncio.get_running_loop()
        parked.timer = loop.call_later(self.keep, self._expire, parked)
        self._idle.setdefault(parked.key, []).append(parked)
        return True

    def _expire(self, parked: Parked) -> None:
        entries = self._idle.get(parked.key, [])
        with contextlib.suppress(ValueError):
            entries.remove(parked)
            self._close(parked)
        if not entries:
            self._idle.pop(parked.key, None)

    def _close(self, parked: Parked) -> None:
        task = asyncio.get_running_loop().create_task(parked.release())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close_all(self) -> None:
        """Close every parked session (QUIT) and wait for those being closed."""
        for entries in list(self._idle.values()):
            for parked in entries:
                if parked.timer is not None:
                    parked.timer.cancel()
                self._close(parked)
        self._idle.clear()
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=10.0)
