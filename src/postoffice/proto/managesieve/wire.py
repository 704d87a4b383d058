"""Reading client commands: atoms, quoted strings and literals (RFC 5804 section 4).

A command is one line, or several when a line ends with a literal marker `{n+}` (or `{n}`,
which is read the same way: ManageSieve has no continuation for literals): the n octets
follow the marker's CRLF, then the command goes on. Lines longer than the limit end the
session; a literal over the limit is either an error (before login) or skipped unread and
the command marked `oversized`, so that the session can answer it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LITERAL = re.compile(rb"\{([0-9]{1,10})\+?\}")
_ATOM_END = re.compile(rb'[ "{]')
_QUOTED = re.compile(rb'((?:[^"\\\x00]|\\["\\])*)"')
_ESCAPE = re.compile(rb'\\(["\\])')


class LineTooLong(ValueError):
    """A command line (literals excluded) is over the limit."""


class LiteralTooLarge(ValueError):
    """A literal is over the limit and the reader was told not to skip it."""


@dataclass(frozen=True)
class Word:
    data: bytes
    string: bool
    """A quoted string or a literal; False for an atom (a command name, a number)."""


@dataclass
class Command:
    words: list[Word] = field(default_factory=list)
    error: str = ""
    """Why the command is malformed ("" when it is well formed)."""
    oversized: bool = False
    """A literal over the limit was skipped: the command lacks it."""
    literal_octets: int = 0


class Reader:
    """Splits the client's bytes into commands."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.literal_limit = 0
        """Literal octets one command may carry; set by the session for its state."""
        self.skip_oversized = False
        """Skip literals over the limit (else LiteralTooLarge)."""
        self._buf = bytearray()
        self._command = Command()
        self._literal: int | None = None
        """Octets of the literal being read."""
        self._skip = 0
        """Octets of an oversized literal still to drop."""

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget everything buffered (after STARTTLS)."""
        self._buf.clear()
        self._command, self._literal, self._skip = Command(), None, 0

    def next(self) -> Command | None:
        """The next complete command; None when more bytes are needed."""
        while True:
            if self._skip:
                dropped = min(self._skip, len(self._buf))
                del self._buf[:dropped]
                self._skip -= dropped
                if self._skip:
                    return None
            if self._literal is not None:
                if len(self._buf) < self._literal:
                    return None
                self._command.words.append(Word(bytes(self._buf[: self._literal]), True))
                del self._buf[: self._literal]
                self._literal = None
            end = self._buf.find(b"\n")
            if end < 0 and len(self._buf) >= self.max_line or end + 1 > self.max_line:
                raise LineTooLong
            if end < 0:
                return None
            line = bytes(self._buf[:end]).removesuffix(b"\r")
            del self._buf[: end + 1]
            size = self._line(line)
            if size is None:
                command, self._command = self._command, Command()
                return command
            self._start_literal(size)

    def _line(self, line: bytes) -> int | None:
        """Add the words of one line to the command; the size of a trailing literal."""
        command = self._command
        try:
            words, size = split_line(line)
        except ValueError as error:
            command.error = command.error or str(error)
            marker = _LITERAL.search(line)
            return int(marker[1]) if marker and marker.end() == len(line) else None
        command.words += words
        return size

    def _start_literal(self, size: int) -> None:
        command = self._command
        if command.literal_octets + size <= self.literal_limit and not command.oversized:
            command.literal_octets += size
            self._literal = size
        elif self.skip_oversized:
            command.oversized = True
            self._skip = size
        else:
            raise LiteralTooLarge


def split_line(line: bytes) -> tuple[list[Word], int | None]:
    """The words of one line and the size of the literal it ends with (None if none);
    ValueError when malformed."""
    words: list[Word] = []
    pos = 0
    while pos < len(line):
        char = line[pos : pos + 1]
        if char == b" ":
            pos += 1
        elif char == b'"':
            data, pos = _quoted(line, pos + 1)
            words.append(Word(data, True))
        elif char == b"{":
            marker = _LITERAL.match(line, pos)
            if marker is None or marker.end() != len(line):
                raise ValueError("Malformed literal")
            return words, int(marker[1])
        else:
            end = _ATOM_END.search(line, pos)
            stop = len(line) if end is None else end.start()
            if end is not None and line[stop : stop + 1] != b" ":
                raise ValueError("Malformed atom")
            words.append(Word(line[pos:stop], False))
            pos = stop
    return words, None


def _quoted(line: bytes, pos: int) -> tuple[bytes, int]:
    """The text of a quoted string whose opening quote is before `pos`, and where it ends."""
    match = _QUOTED.match(line, pos)
    if match is None:
        raise ValueError("Malformed quoted string")
    return _ESCAPE.sub(rb"\1", match[1]), match.end()
