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


def message_body(data: bytes) -> bytes:
    """multiline(lines_of(data)) for a whole message (RETR): a message whose every line ends
    in CRLF is dot-stuffed in place, without splitting it into lines."""
    if data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n"):
        stuffed = data.replace(b"\r\n.", b"\r\n..")
        return (b"." + stuffed if data.startswith(b".") else stuffed) + b".\r\n"
    return multiline(lines_of(data))


def top(data: bytes, count: int) -> list[bytes]:
    """The header, the blank line and the first `count` body lines (RFC 1939 TOP)."""
    lines = lines_of(data)
    try:
        end = lines.index(b"") + 1
    except ValueError:
        return lines
    return lines[: end + count]
