"""POP3 response rendering: status lines, multi-line bodies, TOP cutting (RFC 1939 section 3)."""

from __future__ import annotations

from collections.abc import Iterable


def ok(text: str = "") -> bytes:
    return f"+OK {text}\r\n".encode() if text else b"+OK\r\n"


def err(text: str, code: str = "") -> bytes:
    """-ERR with an optional RFC 2449 response code such as "AUTH", "IN-USE", "SYS/TEMP"."""
    return f"-ERR [{code}] {text}\r\n".encode() if code else f"-ERR {text}\r\n".encode()


def lines_of(data: bytes) -> list[bytes]:
    """Split a message into lines without their CRLF or bare LF endings."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def multiline(lines: Iterable[bytes]) -> bytes:
    """The body of a multi-line response: dot-stuffed lines, then the terminating dot line."""
    out = bytearray()
    for line in lines:
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    out += b".\r\n"
    return bytes(out)


def top(data: bytes, count: int) -> list[bytes]:
    """The header, the blank line and the first `count` body lines (RFC 1939 TOP)."""
    lines = lines_of(data)
    try:
        end = lines.index(b"") + 1
    except ValueError:
        return lines
    return lines[: end + count]
