"""Sending statistics: event counts by hour, grouped as the caller asks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

GroupBy = Literal["day", "hour", "category", "provider", "domain", "ip"]
GROUPS: tuple[GroupBy, ...] = ("day", "hour", "category", "provider", "domain", "ip")


@dataclass(frozen=True)
class StatsRow:
    key: str
    """The group: "2026-12-06", "2026-12-06T14", a category, provider, sending domain or IP."""
    counts: dict[str, int]
    """Event type -> how many (bounces split as bounced_hard / bounced_soft when known)."""


class StatsStore(Protocol):
    def stats(self, tenant: str, *, since: float, until: float, group_by: GroupBy,
              category: str | None = None) -> list[StatsRow]:
        """Counts of the tenant's events from `since` to `until` (Unix times, rounded to
        the hour), by group, in key order."""
        ...
    def queued_since(self, tenant: str, since: float) -> int:
        """Recipients the tenant queued from the hour `since` falls in (sending limits)."""
        ...
