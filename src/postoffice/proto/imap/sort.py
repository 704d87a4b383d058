"""SORT (RFC 5256), DISPLAYFROM/DISPLAYTO (RFC 5957) and the sort half of ESORT (RFC 5267).

Strings compare under `collation_key` (case-insensitive, i;unicode-casemap-like: upper case
after case folding, then NFKD); equal keys fall back to the next criterion, and at the end to
the sequence number, ascending even under REVERSE.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

from postoffice.message.dates import parse_date
from postoffice.proto.imap.header_values import Address, parse_addresses
from postoffice.proto.imap.view import MessageView

SortKey = Callable[[MessageView], "str | float | int"]
V = TypeVar("V", bound=MessageView)


# -- base subject (RFC 5256 2.1) -------------------------------------------------------------

_WSP_RUN = re.compile(r"[ \t\r\n]+")
_BLOB = r"\[[^\[\]]*\][ \t]*"
_LEADER = re.compile(rf"(?:{_BLOB})*(?:re|fwd?)[ \t]*(?:{_BLOB})?:|[ \t]", re.IGNORECASE)
_BLOB_AT = re.compile(_BLOB)


def subject_parts(subject: str) -> tuple[str, bool]:
    """(base subject, whether it is a reply or forward): the base subject extraction
    removed a subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper."""
    text = _WSP_RUN.sub(" ", subject)
    start, end = 0, len(text)
    reply = False
    while True:
        # (2) trailers: "(fwd)" and white space
        while end > start:
            if text[end - 1] in " \t":
                end -= 1
            elif end - start >= 5 and text[end - 5:end].lower() == "(fwd)":
                end -= 5
                reply = True
            else:
                break
        # (3)-(5) leaders, and blobs that leave something behind
        while True:
            match = _LEADER.match(text, start, end)
            if match:
                reply = reply or match.group() not in (" ", "\t")
                start = match.end()
                continue
            match = _BLOB_AT.match(text, start, end)
            if match and match.end() < end:
                start = match.end()
                continue
            break
        # (6) "[fwd: ... ]"
        if end - start >= 6 and text[start:start + 5].lower() == "[fwd:" and text[end - 1] == "]":
            start, end = start + 5, end - 1
            reply = True
            continue
        return text[start:end], reply


def base_subject(subject: str) -> str:
    """The base subject of an (already RFC 2047 decoded) Subject (RFC 5256 2.1)."""
    return subject_parts(subject)[0]


def collation_key(text: str) -> str:
    """The form strings are compared in: case-insensitive, compatibility-decomposed."""
    return unicodedata.normalize("NFKD", text.casefold().upper())


# -- sort keys -------------------------------------------------------------------------------

def sent_time(view: MessageView) -> float:
    """The sent date (RFC 5256 2.2): the Date field in UTC, else the internal date."""
    for value in view.header("Date")[:1]:
        sent = parse_date(value)
        if sent is not None:
            try:
                return sent.timestamp()
            except (OverflowError, ValueError):
                break
    return view.internal_date


def first_address(view: MessageView, field_name: str) -> Address | None:
    for value in view.header(field_name):
        addresses = parse_addresses(value)
        if addresses:
            return addresses[0]
    return None


def _mailbox(field_name: str) -> SortKey:
    def key(view: MessageView) -> str:
        address = first_address(view, field_name)
        return collation_key(address.mailbox) if address else ""
    return key


def _display(field_name: str) -> SortKey:
    def key(view: MessageView) -> str:
        address = first_address(view, field_name)
        if address is None:
            return ""
        if address.group:
            return collation_key(address.mailbox)
        return collation_key(address.name or address.addr_spec)
    return key


def _subject(view: MessageView) -> str:
    subjects = view.header("Subject")
    return collation_key(base_subject(subjects[0])) if subjects else ""


_KEYS: dict[str, SortKey] = {
    "ARRIVAL": lambda m: m.internal_date,
    "CC": _mailbox("Cc"),
    "DATE": sent_time,
    "FROM": _mailbox("From"),
    "SIZE": lambda m: m.size,
    "SUBJECT": _subject,
    "TO": _mailbox("To"),
    "DISPLAYFROM": _display("From"),
    "DISPLAYTO": _display("To"),
}


def sort(criteria: Sequence[tuple[str, bool]], messages: Sequence[V]) -> list[V]:
    """The messages ordered by `criteria`, each (key name, reverse) as commands.Sort has them:
    ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO."""
    ordered = sorted(messages, key=lambda m: m.seq)
    for name, reverse in reversed(criteria):
        ordered.sort(key=_KEYS[name.upper()], reverse=reverse)  # stable: ties keep seq order
    return ordered
