"""Outbound message content: line-end normalisation, dot-stuffing (RFC 5321 4.5.2) and the
traits that decide MAIL parameters (SIZE, BODY=8BITMIME, SMTPUTF8).

Smuggling safety (the outbound half of the 2023 SMTP smuggling research): whatever the stored
content holds, the bytes we emit never contain a bare CR, a bare LF, or a line consisting of
"." before our own terminator. So `CRLF . CRLF` appears exactly once, at the end, and every
receiver - however it interprets bare newlines - sees exactly one message. The rules:
- every bare CR and bare LF becomes CRLF (a CR that ends a chunk waits for the next chunk, in
  case its LF starts it);
- a "." at the start of a line gets a second "." (DATA only; BDAT content is not stuffed);
- content that does not end with CRLF gets one before the terminator.
Work is done with bytes.count/replace on whole chunks, never per byte in Python.
"""

from __future__ import annotations

from dataclasses import dataclass


class LineEnds:
    """Streaming bare CR/LF -> CRLF normaliser that also guarantees a final CRLF."""

    def __init__(self) -> None:
        self._cr = False  # a CR ended the previous chunk and was held back
        self.at_line_start = True
        """The output so far is empty or ends with CRLF."""
        self.size = 0
        """Octets emitted so far."""

    def feed(self, data: bytes) -> bytes:
        if self._cr:
            data = b"\r" + data
            self._cr = False
        if data.endswith(b"\r"):
            self._cr = True
            data = data[:-1]
        if not data:
            return b""
        crlf = data.count(b"\r\n")
        if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        self.at_line_start = data.endswith(b"\r\n")
        self.size += len(data)
        return data

    def finish(self) -> bytes:
        """What must follow to end the content with CRLF (b"" for empty content)."""
        tail = b"\r\n" if self._cr or not self.at_line_start else b""
        self._cr = False
        self.at_line_start = True
        self.size += len(tail)
        return tail


class DotEncoder:
    """DATA content to wire bytes: normalised, dot-stuffed, terminated by `finish()`."""

    def __init__(self) -> None:
        self._lines = LineEnds()
        self.done = False

    @property
    def size(self) -> int:
        """Content octets emitted (after normalisation, before stuffing)."""
        return self._lines.size

    def feed(self, data: bytes) -> bytes:
        if self.done:
            raise RuntimeError("content already finished")
        bol = self._lines.at_line_start
        out = self._lines.feed(data)
        if not out:
            return b""
        if b"\r\n." in out:
            out = out.replace(b"\r\n.", b"\r\n..")
        if bol and out.startswith(b"."):
            out = b"." + out
        return out

    def finish(self) -> bytes:
        """The rest of the content's last line (if any) and the terminating "." CRLF."""
        if self.done:
            raise RuntimeError("content already finished")
        self.done = True
        return self._lines.finish() + b".\r\n"


def encode_data(content: bytes) -> bytes:
    """The whole wire form of `content` after the 354 reply (a convenience for tests)."""
    encoder = DotEncoder()
    return encoder.feed(content) + encoder.finish()


@dataclass(frozen=True)
class ContentTraits:
    """What the content needs from the peer; `ContentTraits.of(content)` when it is at hand,
    otherwise the envelope's flags stand in (see ClientConnection.start_transaction)."""

    size: int | None
    """Octets, for SIZE=; None when unknown."""
    eight_bit: bool
    """Any octet above 127: send BODY=8BITMIME."""
    utf8_headers: bool
    """Non-ASCII in the header section: the message needs SMTPUTF8 (RFC 6532)."""

    @classmethod
    def of(cls, content: bytes) -> ContentTraits:
        if content.isascii():
            return cls(len(content), False, False)
        end = content.find(b"\r\n\r\n")
        if end < 0:
            end = content.find(b"\n\n")
        header = content if end < 0 else content[:end]
        return cls(len(content), True, not header.isascii())
