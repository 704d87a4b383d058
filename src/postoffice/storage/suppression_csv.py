"""Suppression lists as CSV, for export and import (the API and the CLI):

    address,reason,category,created_at,expires_at
    ann@example.net,hard_bounce,,1717171717.0,
    bob@example.net,unsubscribe,newsletter,2024-06-01T10:00:00+00:00,

Times are Unix seconds or ISO 8601 (UTC when no offset is given); empty `expires_at` is
never, empty `created_at` is now, empty `reason` is manual. The header line is optional."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from postoffice.storage.suppressions import (
    Suppression,
    SuppressionQuery,
    SuppressionStore,
    checked,
)

HEADER = ("address", "reason", "category", "created_at", "expires_at")


@dataclass(frozen=True)
class LineError:
    """A line of an import that was not taken."""

    line: int
    """Its number (the first line is 1)."""
    message: str
    """What is wrong with it."""


def everything(store: SuppressionStore, tenant: str) -> list[Suppression]:
    """Every suppression in force of the tenant, oldest first (read a page at a time)."""
    found: list[Suppression] = []
    before = None
    while True:
        page = store.list_suppressions(tenant, SuppressionQuery(before_id=before, limit=10_000))
        found += page
        if len(page) < 10_000:
            return found[::-1]
        before = page[-1].id


def render(items: Iterable[Suppression]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for s in items:
        writer.writerow((s.address, s.reason, s.category, repr(s.created_at),
                         "" if s.expires_at is None else repr(s.expires_at)))
    return out.getvalue()


def parse(text: str, tenant: str, now: float) -> tuple[list[Suppression], list[LineError]]:
    """The suppressions of a CSV document for `tenant`, and the lines that were not."""
    found: list[Suppression] = []
    errors: list[LineError] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and row[0].strip().lower() == "address":
            continue
        try:
            found.append(_suppression(row, tenant, now))
        except ValueError as error:
            errors.append(LineError(number, str(error)))
    return found, errors


def _suppression(row: list[str], tenant: str, now: float) -> Suppression:
    if len(row) > len(HEADER):
        raise ValueError(f"{len(row)} fields, at most {len(HEADER)}")
    address, reason, category, created, expires = [c.strip() for c in row] + [""] * (
        len(HEADER) - len(row))
    item = Suppression(tenant, address, reason or "manual", category,
                       created_at=_time(created, "created_at") if created else now,
                       expires_at=_time(expires, "expires_at") if expires else None)
    return checked(item, now)


def _time(value: str, field: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{field}: not a time: {value[:40]!r}")
        return seconds
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field}: not a time: {value[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
