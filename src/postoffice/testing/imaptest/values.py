"""IMAP values (atoms, strings, literals, lists, NIL) for the imaptest runner, and their parser.

One parser reads both sides: the expected replies of a script and what the server sent. Text is
``str`` decoded as latin-1, so every byte round-trips. Literals appear inline as ``{N}\\r\\n`` +
N characters (``~{N}`` for literal8, ``{N+}`` non-synchronizing), the way the script loader and
the connection reader assemble them.

Atoms are read the way imaptest's parser reads them (every character up to a space, a line break
or a list's closing parenthesis), except that a ``[...]`` section is part of the atom, spaces and
parentheses included: ``BODY[HEADER.FIELDS (FROM)]`` and ``[UIDVALIDITY 5]`` are single atoms.
Both sides are read alike, so matching is unaffected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "NIL",
    "Atom",
    "ImapParseError",
    "Nil",
    "String",
    "Value",
    "format_values",
    "parse_response",
    "parse_values",
    "upper",
]


class ImapParseError(ValueError):
    """The text is not a sequence of IMAP values."""


@dataclass(frozen=True)
class Atom:
    text: str


@dataclass(frozen=True)
class String:
    """A quoted string or a literal (``literal`` keeps the distinction)."""

    text: str
    literal: bool = False


@dataclass(frozen=True)
class Nil:
    pass


NIL = Nil()

Value: TypeAlias = "Atom | String | Nil | list[Value]"

_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
_LITERAL = re.compile(r"~?\{(\d+)\+?\}\r\n")
_STATUS = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})


def upper(text: str) -> str:
    """ASCII-only upper case (what C's toupper does in the C locale)."""
    return text.translate(_UPPER)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def values(self, depth: int = 0) -> list[Value]:
        out: list[Value] = []
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos] == " ":
                self.pos += 1
            if self.pos >= len(text) or text[self.pos] in "\r\n":
                if depth:
                    raise ImapParseError("unterminated list")
                return out
            ch = text[self.pos]
            if ch == ")":
                if not depth:
                    raise ImapParseError("unexpected ')'")
                self.pos += 1
                return out
            if ch == "(":
                self.pos += 1
                out.append(self.values(depth + 1))
            elif ch == '"':
                out.append(self.quoted())
            elif (literal := _LITERAL.match(text, self.pos)) is not None:
                size = int(literal.group(1))
                start = literal.end()
                if start + size > len(text):
                    raise ImapParseError("literal runs past the end")
                out.append(String(text[start : start + size], literal=True))
                self.pos = start + size
            else:
                out.append(self.atom(depth))

    def quoted(self) -> String:
        text = self.text
        chars: list[str] = []
        pos = self.pos + 1
        while pos < len(text):
            ch = text[pos]
            if ch == "\\" and pos + 1 < len(text):
                chars.append(text[pos + 1])
                pos += 2
                continue
            if ch == '"':
                self.pos = pos + 1
                return String("".join(chars))
            chars.append(ch)
            pos += 1
        raise ImapParseError("unterminated quoted string")

    def atom(self, depth: int) -> Atom | Nil:
        text = self.text
        start = pos = self.pos
        while pos < len(text):
            ch = text[pos]
            if ch in " \r\n(" or (ch == ")" and depth):
                break
            if ch == "[":
                close = _closing_bracket(text, pos)
                if close is not None:
                    pos = close + 1
                    continue
            pos += 1
        self.pos = pos
        word = text[start:pos]
        return NIL if upper(word) == "NIL" else Atom(word)


def _closing_bracket(text: str, start: int) -> int | None:
    """Index of the ``]`` closing the ``[`` at ``start`` on the same line, or None."""
    depth = 0
    for pos in range(start, len(text)):
        ch = text[pos]
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return pos
        elif ch in "\r\n":
            return None
    return None


def parse_values(text: str) -> list[Value]:
    """Parse ``text`` as a space-separated sequence of IMAP values."""
    return _Reader(text).values()


def parse_response(text: str) -> list[Value]:
    """Parse a server response after its ``*`` or tag, leniently.

    A status response (``OK``, ``NO``, ``BAD``, ``BYE``, ``PREAUTH``) is its status atom, its
    ``[response code]`` atom if any, then the human-readable text as one atom per word, so that
    stray quotes or parentheses in the text cannot break parsing. Anything that does not parse
    is returned as plain words.
    """
    word = text.split(" ", 1)[0]
    if upper(word) in _STATUS:
        rest = text[len(word) :].lstrip(" ")
        out: list[Value] = [Atom(word)]
        if rest.startswith("["):
            close = _closing_bracket(rest, 0)
            if close is not None:
                out.append(Atom(rest[: close + 1]))
                rest = rest[close + 1 :]
        out.extend(Atom(w) for w in rest.split())
        return out
    try:
        return parse_values(text)
    except ImapParseError:
        return [Atom(w) for w in text.split()]


def _format(value: Value) -> str:
    if isinstance(value, list):
        return "(" + format_values(value) + ")"
    if isinstance(value, Nil):
        return "NIL"
    if isinstance(value, String):
        if value.literal or "\n" in value.text:
            return f"{{{len(value.text)}}}\r\n{value.text}"
        return '"' + value.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value.text


def format_values(values: Sequence[Value]) -> str:
    """The values back as IMAP text (for messages)."""
    return " ".join(_format(v) for v in values)
