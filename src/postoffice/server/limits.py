"""Connection and login limits shared by the listeners (SMTP now, IMAP and POP3 later)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable


class ConnectionLimiter:
    """Counts open connections, in total and per client IP."""

    def __init__(self, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.total = 0
        self._per_ip: dict[str, int] = defaultdict(int)

    def acquire(self, ip: str) -> str | None:
        """Take a slot; on refusal return the reason ("total" or "per-ip")."""
        if self.total >= self.max_total:
            return "total"
        if self._per_ip[ip] >= self.max_per_ip:
            return "per-ip"
        self.total += 1
        self._per_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        self.total -= 1
        left = self._per_ip[ip] - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)


class AuthThrottle:
    """Growing delays after failed logins, per client IP and per account.

    The n-th failure within `window` seconds costs `base * 2**(n-1)` seconds (at most `cap`)
    before the next answer, so guessing passwords gets slower the more one guesses, from one
    address or against one account from many."""

    def __init__(
        self,
        base: float,
        cap: float,
        window: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self.window = window
        self._now = monotonic
        self._failures: dict[str, tuple[int, float]] = {}

    def _count(self, key: str) -> int:
        entry = self._failures.get(key)
        if entry is None:
            return 0
        count, last = entry
        if self._now() - last > self.window:
            del self._failures[key]
            return 0
        return count

    def delay(self, ip: str, account: str) -> float:
        """Seconds to wait before answering this login attempt."""
        count = max(self._count("ip:" + ip), self._count("user:" + account.lower()))
        if count == 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (count - 1)))

    def failed(self, ip: str, account: str) -> None:
        now = self._now()
        for key in ("ip:" + ip, "user:" + account.lower()):
            self._failures[key] = (self._count(key) + 1, now)
        if len(self._failures) > 100_000:
            self._expire()

    def succeeded(self, ip: str, account: str) -> None:
        self._failures.pop("user:" + account.lower(), None)

    def _expire(self) -> None:
        now = self._now()
        for key in [k for k, (_, last) in self._failures.items() if now - last > self.window]:
            del self._failures[key]
