"""Token reader over one complete command (RFC 9051 section 9, formal syntax).

The framer (parser.py) hands over the command with its literals inline, exactly as
`{n}` / `{n+}` / `~{n}` CRLF followed by n octets, and without the final line end.
Every method either consumes a token or raises GrammarError, leaving parsing to grammar.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from postoffice.proto.imap.errors import GrammarError

T = TypeVar("T")

_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0x20)) | {0x7F}
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - _ATOM_SPECIALS
ASTRING_CHARS = ATOM_CHARS | {ord("]")}
LIST_CHARS = ASTRING_CHARS | {ord("%"), ord("*")}
_LITERAL = re.compile(rb"(~?)\{(\d{1,10})(\+|-)?\}\r\n")
_NUMBER = re.compile(rb"\d+")
MAX_NUMBER = 2**32 - 1
MAX_NUMBER64 = 2**63 - 1


class Scanner:
    """A cursor over the command bytes; `max_depth` bounds nested parentheses."""

    def __init__(self, data: bytes, max_depth: int = 16) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.depth = 0

    # -- primitives ---------------------------------------------------------------------

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def end(self) -> None:
        if not self.at_end():
            raise GrammarError(f"unexpected text at {self.rest()[:20]!r}")

    def rest(self) -> bytes:
        return self.data[self.pos:]

    def try_char(self, char: str) -> bool:
        if self.peek() == ord(char):
            self.pos += 1
            return True
        return False

    def char(self, char: str) -> None:
        if not self.try_char(char):
            raise GrammarError(f"expected {char!r}")

    def sp(self) -> None:
        self.char(" ")

    def try_keyword(self, word: str) -> bool:
        """Consume `word` (case-insensitive) when it is next and not followed by an atom char."""
        end = self.pos + len(word)
        if self.data[self.pos:end].upper() != word.encode():
            return False
        if end < len(self.data) and self.data[end] in ATOM_CHARS and word[-1] not in "[(<.":
            return False
        self.pos = end
        return True

    def run(self, allowed: frozenset[int], what: str) -> bytes:
        start = self.pos
        while self.pos < len(self.data) and self.data[self.pos] in allowed:
            self.pos += 1
        if self.pos == start:
            raise GrammarError(f"expected {what}")
        return self.data[start:self.pos]

    # -- tokens -------------------------------------------------------------------------

    def atom(self) -> str:
        return self.run(ATOM_CHARS, "atom").decode("ascii")

    def number(self, limit: int = MAX_NUMBER) -> int:
        match = _NUMBER.match(self.data, self.pos)
        if not match or int(match.group()) > limit:
            raise GrammarError("expected number")
        self.pos = match.end()
        return int(match.group())

    def nz_number(self) -> int:
        value = self.number()
        if value == 0:
            raise GrammarError("expected non-zero number")
        return value

    def quoted(self) -> bytes:
        self.char('"')
        out = bytearray()
        while True:
            byte = self.peek()
            if byte is None or byte in b"\r\n\0":
                raise GrammarError("unterminated quoted string")
            self.pos += 1
            if byte == ord('"'):
                return bytes(out)
            if byte == ord("\\"):
                escaped = self.peek()
                if escaped not in (ord('"'), ord("\\")):
                    raise GrammarError("bad escape in quoted string")
                self.pos += 1
                byte = escaped
            out.append(byte)

    def literal(self, binary: bool = False) -> bytes:
        match = _LITERAL.match(self.data, self.pos)
        if not match or (match.group(1) and not binary):
            raise GrammarError("expected literal")
        size = int(match.group(2))
        start = match.end()
        if start + size > len(self.data):
            raise GrammarError("truncated literal")
        content = self.data[start:start + size]
        if not binary and b"\0" in content:
            raise GrammarError("NUL in literal")
        self.pos = start + size
        return content

    def is_literal(self) -> bool:
        """`{` or `~{` (literal8) next; a plain `~` starts an atom."""
        return self.peek() == ord("{") or self.data[self.pos:self.pos + 2] == b"~{"

    def string(self) -> bytes:
        return self.quoted() if self.peek() == ord('"') else self.literal()

    def astring(self) -> bytes:
        if self.peek() == ord('"') or self.is_literal():
            return self.string()
        return self.run(ASTRING_CHARS, "astring")

    def nstring(self) -> bytes | None:
        if self.try_keyword("NIL"):
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        if self.peek() == ord('"') or self.is_literal():
            return self.string()
        return self.run(LIST_CHARS, "list-mailbox")

    # -- lists --------------------------------------------------------------------------

    def open(self) -> None:
        self.char("(")
        self.depth += 1
        if self.depth > self.max_depth:
            raise GrammarError("too deeply nested")

    def close(self) -> None:
        self.char(")")
        self.depth -= 1

    def paren_list(self, item: Callable[[], T], allow_empty: bool = True) -> list[T]:
        """"(" [item *(SP item)] ")"."""
        self.open()
        items: list[T] = []
        if not (allow_empty and self.peek() == ord(")")):
            items.append(item())
            while self.try_char(" "):
                items.append(item())
        self.close()
        return items
