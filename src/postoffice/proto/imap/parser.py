"""The incremental IMAP command parser: bytes in, commands out (sans-I/O).

`feed()` bytes as they arrive and call `next_event()` until NEED_DATA. Command lines end with
CRLF (a bare LF is tolerated). A line ending in a literal announcement `{n}`, `{n+}` or `~{n}`
continues with n octets and then more of the same command. Non-synchronising literals
(`{n+}`, LITERAL+ / LITERAL-) are read at once; a synchronising one stops the parser with
NeedContinuation until the server core calls `continue_literal()` or `reject_literal()`.

Limits (constructor): `max_line` octets per line (literals excluded), `max_literal` octets per
literal (`max_literal_unauthenticated` until the core sets `authenticated`),
`max_nonsync_literal` (4096 for LITERAL-, None for LITERAL+), and `max_depth` nested
parentheses. A synchronising literal over the limit gives a TOOBIG error; an overlong line or
non-synchronising literal over the limit cannot be skipped safely and gives a FATAL error, after
which the parser reports nothing more.
"""

from __future__ import annotations

import re

from postoffice.proto.imap.errors import GrammarError, ParseError, Refusal, Severity
from postoffice.proto.imap.events import (
    NEED_DATA,
    ClientLine,
    NeedContinuation,
    ParserEvent,
)
from postoffice.proto.imap.grammar import parse_command, peek_tag

_LITERAL_END = re.compile(rb"~?\{(\d{1,10})(\+)?\}\Z")


class CommandParser:
    def __init__(self, *, max_line: int = 8192, max_literal: int = 64 * 1024 * 1024,
                 max_literal_unauthenticated: int = 8192, max_nonsync_literal: int | None = None,
                 max_depth: int = 16) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_literal_unauthenticated = max_literal_unauthenticated
        self.max_nonsync_literal = max_nonsync_literal
        self.max_depth = max_depth
        self.authenticated = False
        """Set by the server core after LOGIN/AUTHENTICATE: raises the literal limit."""
        self.utf8 = False
        """Set by the server core for IMAP4rev2 / UTF8=ACCEPT: mailbox names are UTF-8."""
        self._buffer = bytearray()
        self._command = bytearray()
        self._literal_left = 0
        self._waiting: int | None = None
        self._line_mode = False
        self._failed = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def expect_line(self) -> None:
        """The next line is a raw ClientLine (SASL response, IDLE's DONE), not a command."""
        self._line_mode = True

    def continue_literal(self) -> None:
        """The server sent "+ ...": read the announced synchronising literal."""
        if self._waiting is None:
            raise RuntimeError("no literal is waiting")
        self._literal_left, self._waiting = self._waiting, None

    def reject_literal(self) -> None:
        """The server refused the announced literal: the client abandons the command."""
        if self._waiting is None:
            raise RuntimeError("no literal is waiting")
        self._waiting = None
        self._command.clear()

    def next_event(self) -> ParserEvent:
        if self._failed or self._waiting is not None:
            return NEED_DATA
        while True:
            if self._literal_left:
                taken = self._buffer[:self._literal_left]
                del self._buffer[:len(taken)]
                self._command += taken
                self._literal_left -= len(taken)
                if self._literal_left:
                    return NEED_DATA
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_line + 1:
                    return self._fatal("line too long")
                return NEED_DATA
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[:end + 1]
            if len(line) > self.max_line:
                return self._fatal("line too long")
            if self._line_mode:
                self._line_mode = False
                return ClientLine(line)
            event = self._line(line)
            if event is not None:
                return event

    def _line(self, line: bytes) -> ParserEvent | None:
        """Take one line of the command; None when a literal follows and reading goes on."""
        self._command += line
        literal = _LITERAL_END.search(line)
        if literal is None:
            command = bytes(self._command)
            self._command.clear()
            return self._parse(command)
        self._command += b"\r\n"
        size, nonsync = int(literal.group(1)), literal.group(2) is not None
        tag = peek_tag(bytes(self._command))
        limit = self.max_literal if self.authenticated else self.max_literal_unauthenticated
        if nonsync:
            if size > limit or (self.max_nonsync_literal is not None
                                and size > self.max_nonsync_literal):
                return self._fatal("non-synchronising literal too big", tag)
            self._literal_left = size
            return None
        if size > limit:
            self._command.clear()
            return ParseError(tag, "literal too big", Severity.TOOBIG)
        self._waiting = size
        return NeedContinuation(tag, size)

    def _parse(self, command: bytes) -> ParserEvent:
        try:
            return parse_command(command, self.utf8, self.max_depth)
        except Refusal as exc:
            return ParseError(peek_tag(command), str(exc), Severity.NO, exc.code)
        except GrammarError as exc:
            return ParseError(peek_tag(command), str(exc) or "syntax error")

    def _fatal(self, text: str, tag: str | None = None) -> ParseError:
        self._failed = True
        self._buffer.clear()
        return ParseError(tag, text, Severity.FATAL)
