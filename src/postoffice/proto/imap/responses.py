"""Server responses (RFC 9051 section 7): tagged status, untagged data, continuations.

Data values render by type: int as a number, None as NIL, Atom as itself, str and bytes as a
string (quoted when safe, a literal otherwise), Mailbox as a mailbox name (modified UTF-7
unless `utf8`), tuple and list as a parenthesised list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.proto.imap import mutf7

STATUSES = ("OK", "NO", "BAD", "PREAUTH", "BYE")
_QUOTED_MAX = 1024


@dataclass(frozen=True)
class Atom:
    """Text written as-is (flags, keywords, NIL-free tokens such as \\Seen or MESSAGES)."""

    text: str


@dataclass(frozen=True)
class Mailbox:
    name: str


@dataclass(frozen=True)
class Joined:
    """Values written one after another with no space: `1*body` and `1*address` in
    BODYSTRUCTURE and ENVELOPE, e.g. ((...)(...) "mixed")."""

    items: tuple[Value, ...]


Value = int | str | bytes | None | Atom | Mailbox | Joined | Sequence["Value"]


def string(value: str | bytes, utf8: bool = False) -> bytes:
    """A quoted string when it is short and plain (UTF-8 only if `utf8`), a literal otherwise."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if (len(raw) <= _QUOTED_MAX and not any(b in b"\r\n\0" for b in raw)
            and (utf8 or raw.isascii())):
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(raw) + raw


def render(value: Value, utf8: bool = False) -> bytes:
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("booleans have no IMAP form")
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, Atom):
        return value.text.encode("utf-8")
    if isinstance(value, Mailbox):
        name = value.name if utf8 else mutf7.encode(value.name)
        return string(name, utf8)
    if isinstance(value, str | bytes):
        return string(value, utf8)
    if isinstance(value, Joined):
        return b"".join(render(item, utf8) for item in value.items)
    return b"(" + b" ".join(render(item, utf8) for item in value) + b")"


def code(name: str, *arguments: Value, utf8: bool = False) -> str:
    """A response code such as [UIDVALIDITY 3857529045] or [PERMANENTFLAGS (\\Seen \\*)]."""
    rendered = [render(arg, utf8).decode("utf-8") for arg in arguments]
    return "[" + " ".join([name, *rendered]) + "]"


def _status_line(prefix: str, status: str, text: str, response_code: str | None) -> bytes:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status}")
    if "\r" in text or "\n" in text:
        raise ValueError("response text must be one line")
    parts = [prefix, status] + ([response_code] if response_code else []) + [text or status]
    return " ".join(parts).encode("utf-8") + b"\r\n"


def tagged(tag: str, status: str, text: str, response_code: str | None = None) -> bytes:
    """`tag OK [code] text`; status is OK, NO or BAD."""
    return _status_line(tag, status, text, response_code)


def untagged_status(status: str, text: str, response_code: str | None = None) -> bytes:
    """`* OK/NO/BAD/PREAUTH/BYE [code] text`."""
    return _status_line("*", status, text, response_code)


def untagged(*items: Value, utf8: bool = False) -> bytes:
    """`* item item ...`, e.g. untagged(3, Atom("EXISTS")) or untagged(Atom("LIST"), ...)."""
    return b"* " + b" ".join(render(item, utf8) for item in items) + b"\r\n"


def continuation(text: str = "") -> bytes:
    """`+ text`: go on with a literal, or a (base64) SASL challenge."""
    return b"+ " + text.encode("utf-8") + b"\r\n"
