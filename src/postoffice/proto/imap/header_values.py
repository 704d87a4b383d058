"""Header values SEARCH, SORT and THREAD interpret: addresses, dates, message ids.

All parsing is lenient: it reads what real mail carries and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz

_SPECIALS = "<>@,;:"


@dataclass(frozen=True)
class Address:
    """One mailbox, or the start of a group (`group` True, its name in `mailbox`)."""

    name: str
    mailbox: str
    host: str
    group: bool = False

    @property
    def addr_spec(self) -> str:
        return f"{self.mailbox}@{self.host}" if self.host else self.mailbox


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) with kind "q" quoted, "c" comment, "s" special, "a" atom, " " space."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            j = i
            while j < n and text[j].isspace():
                j += 1
            out.append((" ", " "))
        elif ch == '"':
            j, value = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                value.append(text[j])
                j += 1
            out.append(("q", "".join(value)))
            j += 1
        elif ch == "(":
            j, depth, value = i + 1, 1, []
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    j += 1
                    c = text[j]
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                value.append(c)
                j += 1
            out.append(("c", "".join(value).strip()))
            j += 1
        elif ch in _SPECIALS:
            out.append(("s", ch))
            j = i + 1
        else:
            j = i
            while j < n and not (text[j].isspace() or text[j] in _SPECIALS + '"('):
                j += 1
            out.append(("a", text[i:j]))
        i = j
    return out


class _AddressParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.out: list[Address] = []
        self.phrase: list[str] = []
        self.spec: list[str] = []
        self.angle: list[str] | None = None
        self.comment = ""
        self.group: str | None = None

    def parse(self) -> list[Address]:
        for kind, text in self.tokens:
            if self.angle is not None:
                if kind == "s" and text == ">":
                    self.spec, self.angle = self.angle, None
                elif kind in "qas":
                    self.angle.append(text)
            elif kind == "c":
                self.comment = self.comment or text
            elif kind == "s" and text == "<":
                self.angle = []
            elif kind == "s" and text == ":" and self.group is None and not self.spec:
                self.group = " ".join(self.phrase)
                self.out.append(Address("", self.group, "", group=True))
                self.phrase = []
            elif kind == "s" and text in ",;":
                self.finish()
                if text == ";":
                    self.group = None
            elif kind == " ":
                self.phrase.append("")
            else:
                self.phrase.append(text)
        if self.angle is not None:
            self.spec, self.angle = self.angle, None
        self.finish()
        return self.out

    def finish(self) -> None:
        words = [w for w in " ".join(self.phrase).split(" ") if w]
        if self.spec:
            name = " ".join(words) or self.comment
            spec = "".join(self.spec)
        else:
            name, spec = self.comment, "".join(words)
        if spec:
            mailbox, at, host = spec.rpartition("@")
            if not at:
                mailbox, host = spec, ""
            self.out.append(Address(name, mailbox, host))
        self.phrase, self.spec, self.comment = [], [], ""


def parse_addresses(text: str) -> list[Address]:
    """An address list (RFC 5322 3.4) with groups, read the way mail clients write it."""
    return _AddressParser(text).parse()


def address_text(addresses: list[Address]) -> str:
    """The addresses written out plainly: `Name <a@b>, c@d, group: e@f`."""
    parts = []
    for address in addresses:
        if address.group:
            parts.append(f"{address.mailbox}:")
        elif address.name:
            parts.append(f"{address.name} <{address.addr_spec}>")
        else:
            parts.append(address.addr_spec)
    return ", ".join(parts)


def parse_date(text: str) -> datetime | None:
    """An RFC 5322 date-time in its own zone (no zone: UTC), or None when unreadable."""
    parsed = parsedate_tz(text)
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    offset = parsed[9] or 0
    try:
        zone = timezone(timedelta(seconds=offset))
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except (ValueError, OverflowError):
        return None


_MSG_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\([^()]*\)")


def message_ids(text: str) -> list[str]:
    """The valid `<left@right>` message ids in a field, in order, without brackets."""
    text = _COMMENT.sub("", text)
    ids = []
    for match in _MSG_ID.finditer(text):
        value = "".join(match.group(1).split())
        if "@" in value and not value.startswith("@") and not value.endswith("@"):
            ids.append(value)
    return ids
