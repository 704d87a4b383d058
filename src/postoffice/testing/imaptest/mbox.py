"""The messages of an imaptest ``.mbox`` file, as imaptest appends them.

A message starts after a ``From `` separator line that carries a valid date; every line up to
the next separator (the blank line before it included) is the message, each line ending in CRLF.
``>From `` lines are unescaped. The separator's date becomes the message's INTERNALDATE (in the
local time zone when the line has no numeric zone, as imaptest does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["MboxMessage", "read_mbox"]

_FROM_LINE = re.compile(
    r"From \S+\s+(?:[A-Za-z]{3}\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s+(?:(\d{4})(?:\s+([+-]\d{4}))?|([+-]\d{4})\s+(\d{4}))\s*$"
)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


@dataclass(frozen=True)
class MboxMessage:
    internaldate: str
    """IMAP date-time, e.g. ``22-Feb-2008 17:06:23 +0200``."""
    data: bytes
    """The message with CRLF line ends."""


def _internaldate(line: str) -> str | None:
    match = _FROM_LINE.match(line)
    if match is None:
        return None
    month, day, hour, minute, second, year, zone, zone2, year2 = match.groups()
    if month.lower() not in _MONTHS:
        return None
    stamp = datetime(
        int(year or year2),
        _MONTHS.index(month.lower()) + 1,
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
    )
    offset = zone or zone2
    if offset is None:
        local = stamp.astimezone()
        delta = local.utcoffset() or timedelta(0)
    else:
        sign = -1 if offset[0] == "-" else 1
        delta = sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    return stamp.replace(tzinfo=timezone(delta)).strftime("%d-%b-%Y %H:%M:%S %z")


def read_mbox(path: Path) -> list[MboxMessage]:
    """The messages of the mbox at ``path`` (an empty list for an empty file)."""
    lines = path.read_bytes().decode("latin-1").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    messages: list[MboxMessage] = []
    date: str | None = None
    body: list[str] = []
    for line in lines:
        line = line.removesuffix("\r")
        next_date = _internaldate(line) if line.startswith("From ") else None
        if next_date is not None:
            if date is not None:
                messages.append(_message(date, body))
            date, body = next_date, []
            continue
        if date is None:
            raise ValueError(f"{path}: not an mbox file (no From line first)")
        body.append(line[1:] if re.match(r">+From ", line) else line)
    if date is not None:
        messages.append(_message(date, body))
    return messages


def _message(date: str, lines: list[str]) -> MboxMessage:
    return MboxMessage(date, "".join(line + "\r\n" for line in lines).encode("latin-1"))
