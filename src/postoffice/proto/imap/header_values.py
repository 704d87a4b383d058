"""Header values SEARCH, SORT and THREAD interpret: addresses and message ids (dates:
message/dates.py).

All parsing is lenient: it reads what real mail carries and never raises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from postoffice.proto.imap.envelope import addresses

_MISSING = frozenset({b"MISSING_MAILBOX", b"MISSING_DOMAIN", b"SYNTAX_ERROR"})


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


@lru_cache(maxsize=65536)
def parse_addresses(text: str) -> tuple[Address, ...]:
    """An address list (RFC 5322 3.4) with groups, read by ENVELOPE's parser
    (proto/imap/envelope.py); a display name missing, the comment stands in for it. Cached:
    a session's SEARCH and SORT read the same fields again and again."""
    found: list[Address] = []
    for name, _route, mailbox, host in addresses(text.encode("utf-8")):
        if host is None:
            if mailbox is not None:  # a group starts; (NIL NIL NIL NIL) ends it
                found.append(Address("", _text(mailbox), "", group=True))
            continue
        found.append(Address(_text(name), _text(mailbox), _text(host)))
    return tuple(found)


def _text(value: bytes | None) -> str:
    if value is None or value in _MISSING:
        return ""
    return value.decode("utf-8", "replace")


@lru_cache(maxsize=65536)
def plain_addresses(text: str) -> str:
    """An address field written out plainly (see address_text), case-folded for matching."""
    return address_text(parse_addresses(text)).casefold()


def address_text(addresses: Sequence[Address]) -> str:
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
