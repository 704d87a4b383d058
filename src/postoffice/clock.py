"""Injected time. Decision code takes a Clock; only this module reads the system clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()
