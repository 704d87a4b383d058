"""Tokens of a Sieve script (RFC 5228 section 8.1).

Comments (`# ...` to end of line, `/* ... */`) and white space are skipped. Quoted strings
undo `\\` escapes (an unknown escape is the character itself, section 2.4.2); a `text:`
string runs to a line holding only `.`, and a line starting with `.` loses that first dot
(dot-unstuffing). Numbers take a K, M or G multiplier. Line ends may be CRLF or LF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from postoffice.sieve.nodes import SieveError

Kind = Literal["identifier", "tag", "number", "string", "special"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"([0-9]+)([KMGkmg]?)")
_TEXT = re.compile(r"text:[ \t]*(#[^\r\n]*)?\r?\n", re.IGNORECASE)
_MULTIPLIERS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_SPECIALS = "[](),;{}"


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str | int
    line: int


def tokenize(source: str) -> Iterator[Token]:
    pos, line, end = 0, 1, len(source)
    while pos < end:
        char = source[pos]
        if char in " \t\r\n":
            line += char == "\n"
            pos += 1
        elif char == "#":
            newline = source.find("\n", pos)
            pos = end if newline < 0 else newline
        elif source.startswith("/*", pos):
            close = source.find("*/", pos + 2)
            if close < 0:
                raise SieveError("unterminated /* comment", line)
            line += source.count("\n", pos, close)
            pos = close + 2
        elif char in _SPECIALS:
            yield Token("special", char, line)
            pos += 1
        elif char == '"':
            value, after = _quoted(source, pos + 1, line)
            yield Token("string", value, line)
            line += source.count("\n", pos, after)
            pos = after
        elif text := _TEXT.match(source, pos):
            value, after = _multiline(source, text.end(), line)
            yield Token("string", value, line)
            line += source.count("\n", pos, after)
            pos = after
        elif char == ":" and (name := _IDENTIFIER.match(source, pos + 1)):
            yield Token("tag", name.group().lower(), line)
            pos = name.end()
        elif number := _NUMBER.match(source, pos):
            digits, unit = number.groups()
            yield Token("number", int(digits) * _MULTIPLIERS[unit.lower()], line)
            pos = number.end()
        elif name := _IDENTIFIER.match(source, pos):
            yield Token("identifier", name.group().lower(), line)
            pos = name.end()
        else:
            raise SieveError(f"unexpected character {char!r}", line)


def _quoted(source: str, pos: int, line: int) -> tuple[str, int]:
    """The value of the quoted string whose body starts at `pos`, and the position after it."""
    out: list[str] = []
    while pos < len(source):
        char = source[pos]
        if char == '"':
            return "".join(out), pos + 1
        if char == "\\" and pos + 1 < len(source):
            pos += 1
            char = source[pos]
        out.append(char)
        pos += 1
    raise SieveError("unterminated string", line)


def _multiline(source: str, pos: int, line: int) -> tuple[str, int]:
    """The value of the `text:` string whose first line starts at `pos`, and the position
    after its terminating `.` line."""
    out: list[str] = []
    while pos < len(source):
        newline = source.find("\n", pos)
        if newline < 0:
            break
        text = source[pos:newline + 1]
        if text.rstrip("\r\n") == ".":
            return "".join(out), newline + 1
        out.append(text[1:] if text.startswith(".") else text)
        pos = newline + 1
    if source[pos:].rstrip("\r") == ".":
        return "".join(out), len(source)
    raise SieveError("unterminated text: string (no line with a lone '.')", line)
