"""Date parts for the date and currentdate tests (RFC 5260 sections 4-5)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime

from postoffice.message import dates

DATE_PARTS = frozenset({"year", "month", "day", "date", "julian", "hour", "minute", "second",
                        "time", "iso8601", "std11", "zone", "weekday"})
ZONE = re.compile(r"[+-](?:[01][0-9]|2[0-3])[0-5][0-9]")
"""A :zone argument: +hhmm or -hhmm."""
_MJD_EPOCH = date(1858, 11, 17)


def parse_date(value: str) -> datetime | None:
    """The date in a header value (for Received, the part after the last `;`); None when it
    is not an RFC 2822 date. A date in -0000 is taken as UTC."""
    return dates.parse_date(value.rpartition(";")[2].strip())


def zone(text: str) -> timezone:
    """The fixed offset of a checked :zone argument."""
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def date_part(moment: datetime, part: str) -> str:
    """`part` of the aware `moment`, formatted as RFC 5260 section 4.2 says."""
    offset = moment.utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone_text = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    values = {
        "year": f"{moment.year:04d}", "month": f"{moment.month:02d}",
        "day": f"{moment.day:02d}", "date": moment.strftime("%Y-%m-%d"),
        "julian": str((moment.date() - _MJD_EPOCH).days),
        "hour": f"{moment.hour:02d}", "minute": f"{moment.minute:02d}",
        "second": f"{moment.second:02d}", "time": moment.strftime("%H:%M:%S"),
        "iso8601": moment.strftime("%Y-%m-%dT%H:%M:%S") + f"{zone_text[:3]}:{zone_text[3:]}",
        "std11": format_datetime(moment), "zone": zone_text,
        "weekday": str(moment.isoweekday() % 7),
    }
    return values[part]
