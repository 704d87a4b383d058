"""RFC 5322 date-times as mail carries them (obsolete forms, odd zones): read leniently."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz


def parse_date(text: str) -> datetime | None:
    """The date-time in its own zone (none, or -0000: UTC); None when unreadable."""
    parsed = parsedate_tz(text)
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    try:
        zone = timezone(timedelta(seconds=parsed[9] or 0))
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except (ValueError, OverflowError):
        return None
