"""SPF macro strings (RFC 7208 section 7): parsing once, expanding per check.

A macro string is literal text with ``%{...}`` expansions and the escapes ``%%`` (``%``),
``%_`` (space) and ``%-`` (``%20``). An expansion is a letter (upper case: URL-escape the
value), an optional number of right-hand parts to keep, an optional ``r`` (reverse) and
delimiters to split on (default ``.``); the parts are joined with ``.``.

Domain specs may use ``s l o d i p v h``; explanation texts also ``c r t`` and spaces.
Expanding is pure: the ``p`` value (the validated host name of the client) needs DNS, so the
evaluator looks it up first when :attr:`MacroString.letters` has ``p`` and passes it in.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, replace

from postoffice.auth.dns import IPAddress

__all__ = [
    "DOMAIN_LETTERS",
    "EXPLANATION_LETTERS",
    "Macro",
    "MacroContext",
    "MacroString",
    "SpfSyntaxError",
    "expand",
    "parse_macro_string",
]

DOMAIN_LETTERS = frozenset("slodipvh")
"""Macro letters allowed in domain specs."""
EXPLANATION_LETTERS = DOMAIN_LETTERS | frozenset("crt")
"""Macro letters allowed in explanation texts (and, as the grammar has them, unknown modifiers)."""
_DELIMITERS = frozenset(".-+,/_=")
_ESCAPES = {"%": "%", "_": " ", "-": "%20"}


class SpfSyntaxError(ValueError):
    """A record, term or macro string that does not follow RFC 7208's grammar (→ permerror)."""


@dataclass(frozen=True, slots=True)
class Macro:
    """One ``%{...}`` expansion."""

    letter: str
    """The macro letter, lower case."""
    keep: int | None = None
    """How many right-hand parts to keep (None: all)."""
    reverse: bool = False
    """Reverse the parts before keeping the right-hand ones."""
    delimiters: str = ""
    """Characters to split the value on ("" means ".")."""
    url_escape: bool = False
    """The letter was upper case: URL-escape the expanded value."""


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro string."""

    text: str
    """The string as written."""
    parts: tuple[str | Macro, ...]
    """Literal text and expansions, in order (escapes are already literal text)."""
    ends_with_expand: bool
    """The string ends in an expansion or an escape (a domain spec may then end without a
    top label)."""
    letters: frozenset[str]
    """The macro letters used."""


def parse_macro_string(
    text: str, letters: frozenset[str] = DOMAIN_LETTERS, *, spaces: bool = False
) -> MacroString:
    """Parse ``text``; ``letters`` are the macro letters allowed, ``spaces`` allows literal
    spaces (explanation texts). Raises :class:`SpfSyntaxError`."""
    parts: list[str | Macro] = []
    used: set[str] = set()
    literal: list[str] = []
    ends_with_expand = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "%":
            if not ("\x21" <= char <= "\x7e" or (spaces and char == " ")):
                raise SpfSyntaxError(f"character {char!r} not allowed in {text!r}")
            literal.append(char)
            ends_with_expand = False
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following in _ESCAPES:
            literal.append(_ESCAPES[following])
            i += 2
        elif following == "{":
            end = text.find("}", i + 2)
            if end < 0:
                raise SpfSyntaxError(f"unclosed macro in {text!r}")
            macro = _parse_macro(text[i + 2 : end], letters, text)
            if literal:
                parts.append("".join(literal))
                literal.clear()
            parts.append(macro)
            used.add(macro.letter)
            i = end + 1
        else:
            raise SpfSyntaxError(f"'%' must start %{{...}}, %%, %_ or %- in {text!r}")
        ends_with_expand = True
    if literal:
        parts.append("".join(literal))
    return MacroString(text, tuple(parts), ends_with_expand, frozenset(used))


def _parse_macro(body: str, letters: frozenset[str], text: str) -> Macro:
    if not body or body[0].lower() not in letters:
        raise SpfSyntaxError(f"macro %{{{body}}} not allowed in {text!r}")
    letter, i = body[0], 1
    while i < len(body) and body[i].isdigit():
        i += 1
    keep = int(body[1:i]) if i > 1 else None
    if keep == 0:
        raise SpfSyntaxError(f"macro %{{{body}}} keeps zero parts in {text!r}")
    reverse = body[i : i + 1] in ("r", "R")
    delimiters = body[i + 1 :] if reverse else body[i:]
    if not set(delimiters) <= _DELIMITERS:
        raise SpfSyntaxError(f"bad delimiter in macro %{{{body}}} in {text!r}")
    return Macro(letter.lower(), keep, reverse, delimiters, letter.isupper())


@dataclass(frozen=True, slots=True)
class MacroContext:
    """The values macros expand to during one check."""

    sender: str
    """<sender>: local-part@domain ("postmaster" substituted for an empty local part)."""
    domain: str
    """<domain>: the domain whose record is being evaluated."""
    ip: IPAddress
    """<ip>: the client address (IPv4-mapped IPv6 addresses already made IPv4)."""
    helo: str
    """The HELO/EHLO name ("unknown" when not known)."""
    receiver: str
    """The name of the host doing the check (the ``r`` macro)."""
    now: float
    """Seconds since the epoch (the ``t`` macro)."""

    def at(self, domain: str) -> MacroContext:
        """The same check, evaluating the record of ``domain`` (include, redirect)."""
        return self if domain == self.domain else replace(self, domain=domain)


def expand(string: MacroString, ctx: MacroContext, ptr_name: str = "unknown") -> str:
    """Expand ``string``; ``ptr_name`` is the ``p`` value (looked up by the caller)."""
    out: list[str] = []
    for part in string.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = _value(part.letter, ctx, ptr_name)
        if part.keep is not None or part.reverse or part.delimiters:
            pieces = _split(value, part.delimiters or ".")
            if part.reverse:
                pieces.reverse()
            if part.keep is not None:
                pieces = pieces[-part.keep :]
            value = ".".join(pieces)
        out.append(urllib.parse.quote(value, safe="") if part.url_escape else value)
    return "".join(out)


def _split(value: str, delimiters: str) -> list[str]:
    if len(delimiters) == 1:
        return value.split(delimiters)
    pieces, start = [], 0
    for i, char in enumerate(value):
        if char in delimiters:
            pieces.append(value[start:i])
            start = i + 1
    pieces.append(value[start:])
    return pieces


def _value(letter: str, ctx: MacroContext, ptr_name: str) -> str:
    if letter == "s":
        return ctx.sender
    if letter == "l":
        return ctx.sender.rpartition("@")[0]
    if letter == "o":
        return ctx.sender.rpartition("@")[2]
    if letter == "d":
        return ctx.domain
    if letter == "i":
        if isinstance(ctx.ip, ipaddress.IPv4Address):
            return str(ctx.ip)
        # dotted nibbles; upper case as the RFC 7208 test suite expects (DNS does not care)
        return ".".join(ctx.ip.exploded.replace(":", "").upper())
    if letter == "p":
        return ptr_name
    if letter == "v":
        return "in-addr" if isinstance(ctx.ip, ipaddress.IPv4Address) else "ip6"
    if letter == "h":
        return ctx.helo
    if letter == "c":
        return str(ctx.ip)
    if letter == "r":
        return ctx.receiver
    if letter == "t":
        return str(int(ctx.now))
    raise AssertionError(f"unchecked macro letter {letter!r}")
