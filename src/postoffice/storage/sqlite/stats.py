"""Sending statistics in SQL: the Store's StatsStore method (a mixin of SqliteStore), over the
hourly counters that writing events keeps (events.insert_events)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from postoffice.storage.stats import GroupBy, StatsRow

_KEYS: dict[str, str] = {
    "day": "strftime('%Y-%m-%d', hour * 3600, 'unixepoch')",
    "hour": "strftime('%Y-%m-%dT%H', hour * 3600, 'unixepoch')",
    "category": "category",
    "provider": "provider",
    "domain": "domain",
    "ip": "ip",
}


class StatsMethods:
    _db: sqlite3.Connection
    _reading: Callable[[], AbstractContextManager[None]]

    def stats(self, tenant: str, *, since: float, until: float, group_by: GroupBy,
              category: str | None = None) -> list[StatsRow]:
        key = _KEYS[group_by]
        where = "tenant = ? AND hour >= ? AND hour < ?"
        values: list[Any] = [tenant, int(since // 3600), int(-(-until // 3600))]
        if category is not None:
            where += " AND category = ?"
            values.append(category)
        with self._reading():
            rows = self._db.execute(
                f"SELECT {key} AS k, type, SUM(count) FROM stats_hourly WHERE {where}"
                " GROUP BY k, type ORDER BY k", values).fetchall()
        grouped: dict[str, dict[str, int]] = {}
        for group, kind, count in rows:
            grouped.setdefault(str(group), {})[kind] = int(count)
        return [StatsRow(group, counts) for group, counts in grouped.items()]

    def queued_since(self, tenant: str, since: float) -> int:
        with self._reading():
            row = self._db.execute("SELECT COALESCE(SUM(count), 0) FROM stats_hourly"
                                   " WHERE tenant = ? AND type = 'queued' AND hour >= ?",
                                   (tenant, int(since // 3600))).fetchone()
        return int(row[0])
