"""Per-tenant sending limits: recipients per clock hour and day (UTC), counted as queued."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LimitReached:
    period: str
    """"hourly" or "daily"."""
    limit: int
    used: int
    retry_after: int
    """Seconds until the period starts again."""

    @property
    def message(self) -> str:
        return (f"the {self.period} sending limit of {self.limit} recipients is reached"
                f" ({self.used} used); it resets in {self.retry_after - 1} s")


def hour_start(now: float) -> float:
    return now - now % 3600


def day_start(now: float) -> float:
    return now - now % 86400


def check(*, hourly: int | None, daily: int | None, used_hour: int, used_day: int,
          adding: int, now: float) -> LimitReached | None:
    """Whether `adding` more recipients now would pass a limit (None: they may go)."""
    for limit, used, period, resets in ((hourly, used_hour, "hourly", hour_start(now) + 3600),
                                        (daily, used_day, "daily", day_start(now) + 86400)):
        if limit is not None and used + adding > limit:
            return LimitReached(period, limit, used, int(resets - now) + 1)
    return None
