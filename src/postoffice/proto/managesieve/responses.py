"""Server responses: OK/NO/BYE with response codes, strings, listings (RFC 5804 sections 1.3, 4)."""

from __future__ import annotations

from collections.abc import Iterable

CRLF = b"\r\n"
MAX_QUOTED = 1024
"""Longer strings are sent as literals."""


def string(value: str | bytes) -> bytes:
    """A quoted string, or a literal `{n}` when the value cannot or should not be quoted."""
    data = value.encode() if isinstance(value, str) else value
    if len(data) > MAX_QUOTED or any(c in data for c in b"\r\n\0"):
        return b"{%d}\r\n" % len(data) + data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def status(kind: str, text: str = "", code: str | bytes = "") -> bytes:
    """`kind` ("OK", "NO" or "BYE"), then the response code in parentheses and the text."""
    out = kind.encode()
    if code:
        out += b" (" + (code.encode() if isinstance(code, str) else code) + b")"
    if text:
        out += b" " + string(text)
    return out + CRLF


def ok(text: str = "", code: str | bytes = "") -> bytes:
    return status("OK", text, code)


def no(text: str, code: str | bytes = "") -> bytes:
    return status("NO", text, code)


def bye(text: str, code: str | bytes = "") -> bytes:
    return status("BYE", text, code)


def tag(value: bytes) -> bytes:
    """The TAG response code of NOOP."""
    return b"TAG " + string(value)


def capabilities(items: Iterable[tuple[str, str | None]]) -> bytes:
    """One line per capability: its name and, when it has one, its value."""
    return b"".join(string(name) + (b" " + string(value) if value is not None else b"") + CRLF
                    for name, value in items)


def listing(scripts: Iterable[tuple[str, bool]]) -> bytes:
    """The LISTSCRIPTS lines: each name, with ACTIVE after the active one."""
    return b"".join(string(name) + (b" ACTIVE" if active else b"") + CRLF
                    for name, active in scripts)


def script(source: str) -> bytes:
    """The GETSCRIPT line: the script as a literal."""
    data = source.encode()
    return b"{%d}\r\n" % len(data) + data + CRLF
