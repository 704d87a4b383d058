"""Value grammar shared by several commands: sequence sets, flags, dates, mailbox names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from postoffice.proto.imap import mutf7
from postoffice.proto.imap.errors import BadName, GrammarError
from postoffice.proto.imap.scanner import ATOM_CHARS, Scanner

STAR = None
"""`*` in a sequence set: the largest number in use."""

_SEQ_CHARS = frozenset(b"0123456789:*,$")
_SEQ_RANGE = re.compile(r"([1-9]\d*|\*)(?::([1-9]\d*|\*))?\Z")


@dataclass(frozen=True)
class SequenceSet:
    """A sequence set such as 1:*,5,7:9 (ranges as written; None is `*`), or `$` (saved)."""

    ranges: tuple[tuple[int | None, int | None], ...] = ()
    saved: bool = False

    def contains(self, number: int, largest: int) -> bool:
        """Whether `number` is in the set when `*` stands for `largest`."""
        for low, high in self.ranges:
            a, b = sorted((largest if low is None else low, largest if high is None else high))
            if a <= number <= b:
                return True
        return False


def sequence_set(scanner: Scanner) -> SequenceSet:
    text = scanner.run(_SEQ_CHARS, "sequence set").decode("ascii")
    if text == "$":
        return SequenceSet(saved=True)
    ranges: list[tuple[int | None, int | None]] = []
    for part in text.split(","):
        match = _SEQ_RANGE.match(part)
        if not match:
            raise GrammarError(f"bad sequence set {text!r}")
        low = _seq_number(match.group(1))
        high = low if match.group(2) is None else _seq_number(match.group(2))
        ranges.append((low, high))
    return SequenceSet(tuple(ranges))


def _seq_number(text: str) -> int | None:
    if text == "*":
        return STAR
    value = int(text)
    if value > 2**32 - 1:
        raise GrammarError("sequence number out of range")
    return value


# -- flags ----------------------------------------------------------------------------------

SYSTEM_FLAGS = {f.upper(): f for f in
                ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}


def flag(scanner: Scanner) -> str:
    """A flag: a system flag (canonical case), another \\flag-extension, or a keyword atom."""
    backslash = scanner.try_char("\\")
    name = scanner.atom()
    if not backslash:
        return name
    text = "\\" + name
    return SYSTEM_FLAGS.get(text.upper(), text)


def flag_list(scanner: Scanner) -> tuple[str, ...]:
    return tuple(scanner.paren_list(lambda: flag(scanner)))


# -- dates ----------------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\Z")
_DATE_TIME = re.compile(r"([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z")


def _month(name: str) -> int:
    try:
        return [m.upper() for m in MONTHS].index(name.upper()) + 1
    except ValueError:
        raise GrammarError(f"bad month {name!r}") from None


def search_date(scanner: Scanner) -> date:
    """date = date-text / DQUOTE date-text DQUOTE, e.g. 1-Feb-1994."""
    raw = scanner.quoted() if scanner.peek() == ord('"') else scanner.run(ATOM_CHARS, "date")
    match = _DATE.match(raw.decode("ascii", "replace"))
    if not match:
        raise GrammarError("bad date")
    try:
        return date(int(match.group(3)), _month(match.group(2)), int(match.group(1)))
    except ValueError:
        raise GrammarError("bad date") from None


def date_time(scanner: Scanner) -> datetime:
    """date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE."""
    match = _DATE_TIME.match(scanner.quoted().decode("ascii", "replace"))
    if not match:
        raise GrammarError("bad date-time")
    day, month, year, hh, mm, ss, sign, zh, zm = match.groups()
    offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
    try:
        return datetime(int(year), _month(month), int(day), int(hh), int(mm), int(ss),
                        tzinfo=timezone(offset))
    except ValueError:
        raise GrammarError("bad date-time") from None


# -- mailbox names --------------------------------------------------------------------------

def decode_mailbox(raw: bytes, utf8: bool) -> str:
    """The name a client sent: UTF-8 (IMAP4rev2 / UTF8=ACCEPT) or modified UTF-7 (IMAP4rev1).

    "INBOX" in any case is INBOX."""
    try:
        name = raw.decode("utf-8") if utf8 else mutf7.decode(raw.decode("ascii"))
    except (UnicodeDecodeError, mutf7.Mutf7Error) as exc:
        raise BadName(f"bad mailbox name: {exc}") from None
    return "INBOX" if name.upper() == "INBOX" else name
