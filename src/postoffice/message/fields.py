"""Header fields exactly as written: split, read and dropped without touching anything else.

The header section ends at the first empty line (``CRLF CRLF``); a message that starts with
``CRLF`` has no fields, one without an empty line is all header. A field runs to the CRLF that is
not followed by SP or HTAB, so :attr:`RawField.raw` keeps its folding and its final CRLF, and
joining the fields again gives the section back byte for byte.

A field name is what comes before the first colon, with trailing WSP removed: RFC 5322's obsolete
syntax allows ``From : x`` and some readers honour it, so checks that look for a field by name
must see it too. Lines without a colon are kept as fields with an empty name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["RawField", "drop_fields", "fields_named", "split_header"]

_FIELD_END = re.compile(rb"\r\n(?![ \t])")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class RawField:
    """One header field as written, folding and final CRLF included."""

    raw: bytes
    """The field's bytes (``b"Subject: hi\\r\\n"``)."""

    @property
    def name(self) -> str:
        """The field name without trailing WSP, as written (``""`` for a line without a colon)."""
        name, colon, _ = self.raw.partition(b":")
        return name.rstrip(b" \t").decode("ascii", "replace") if colon else ""

    def is_named(self, name: str) -> bool:
        """True if the field's name is ``name`` (case-insensitive)."""
        return self.name.lower() == name.lower()

    @property
    def value(self) -> str:
        """The value after the colon: unfolded (CRLFs before WSP removed), outer WSP stripped,
        decoded as UTF-8 with undecodable bytes replaced."""
        _, _, value = self.raw.partition(b":")
        return _FOLD.sub(b"", value).strip(b" \t\r\n").decode("utf-8", "replace")


def split_header(message: bytes) -> tuple[tuple[RawField, ...], int]:
    """The message's header fields and the offset of its body (just past the empty line, or the
    end of the message when there is none)."""
    if message.startswith(b"\r\n"):
        return (), 2
    end = message.find(b"\r\n\r\n")
    section, body = (message, len(message)) if end < 0 else (message[: end + 2], end + 4)
    fields: list[RawField] = []
    start = 0
    for match in _FIELD_END.finditer(section):
        fields.append(RawField(section[start : match.end()]))
        start = match.end()
    if start < len(section):  # a last field without CRLF (a message that is all header)
        fields.append(RawField(section[start:]))
    return tuple(fields), body


def fields_named(message: bytes, name: str) -> list[RawField]:
    """The header fields called ``name`` (case-insensitive), in order."""
    fields, _ = split_header(message)
    return [f for f in fields if f.is_named(name)]


def drop_fields(message: bytes, unwanted: Callable[[RawField], bool]) -> bytes:
    """The message without the header fields for which ``unwanted`` is true; every other byte,
    the body included, stays as it was."""
    fields, body = split_header(message)
    kept: Sequence[RawField] = [f for f in fields if not unwanted(f)]
    if len(kept) == len(fields):
        return message
    separator = message[sum(len(f.raw) for f in fields) : body]
    return b"".join(f.raw for f in kept) + separator + message[body:]
