"""Matching server replies against a script's expected replies, with ``$variables``.

Strings compare case-insensitively. In an expected string, ``$name`` or ``${name}`` is replaced
by the variable's value, which must then appear verbatim; an unset variable is bound to the
server's text up to the character that follows it in the pattern. ``$`` alone matches anything
(a whole list too), ``$$`` is a literal ``$``, ``$N`` is message N's current sequence number after
the EXPUNGEs seen since the command was sent, ``${case:text}`` compares ``text`` case-sensitively,
and ``$modseqN`` binds only to values that respect the order of the N indexes. As in imaptest
(C strings), a string ends at its first NUL byte.

Lists match in order and completely unless ``$!`` directives say otherwise (see
:mod:`postoffice.testing.imaptest.directives`).
"""

from __future__ import annotations

from collections.abc import Sequence

from postoffice.testing.imaptest.directives import is_directive
from postoffice.testing.imaptest.values import Atom, Nil, String, Value, upper

__all__ = ["FULL", "Matcher"]

FULL = 1 << 62
"""Returned by the match methods for a complete match (else: how many values matched)."""


def _is_var_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _var_name(pattern: str, pos: int) -> tuple[str, int] | None:
    """The variable name at ``pos`` (just after ``$``) and the position after it."""
    if pattern[pos : pos + 1] == "{":
        close = pattern.find("}", pos + 1)
        return None if close < 0 else (pattern[pos + 1 : close], close + 1)
    end = pos
    while end < len(pattern) and _is_var_char(pattern[end]):
        end += 1
    return pattern[pos:end], end


def _c_string(text: str) -> str:
    """Strings end at a NUL byte, as they do for imaptest (in C)."""
    return text.partition("\0")[0]


def _uint32(name: str) -> int | None:
    return int(name) if name.isascii() and name.isdigit() and int(name) < 1 << 32 else None


class Matcher:
    """Variables of one script run, and the matching that binds them."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables
        self.added: list[str] = []
        """Variables bound since :meth:`revert_point` (undone by :meth:`revert`)."""
        self.seqmap: list[int] = []
        """Initial sequence -> current sequence (0 = expunged) since the command was sent."""
        self.modseq_index = 0
        self.modseq_value = 0

    # -- sequence mapping ---------------------------------------------------------------------

    def reset_seqmap(self, count: int) -> None:
        self.seqmap = list(range(1, count + 1))

    def expunged(self, seq: int) -> None:
        for i in range(seq - 1, len(self.seqmap)):
            if self.seqmap[i] == seq:
                self.seqmap[i] = 0
            elif self.seqmap[i] > seq:
                self.seqmap[i] -= 1

    def relative_seq(self, seq: int) -> str:
        if seq == 0:
            return "<zero seq>"
        if seq > len(self.seqmap):
            return "<out of range>"
        return str(self.seqmap[seq - 1]) if self.seqmap[seq - 1] else "<expunged>"

    # -- variables ----------------------------------------------------------------------------

    def revert_point(self) -> None:
        self.added = []

    def revert(self) -> None:
        for name in self.added:
            self.variables.pop(name, None)
        self.added = []

    def expand(self, text: str, *, unset_ok: bool = False) -> str:
        """``text`` with its variables replaced; ``$!directives`` dropped.

        An unset variable raises KeyError, or stays ``$`` with ``unset_ok``.
        """
        out: list[str] = []
        pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch != "$" or pos + 1 == len(text):
                out.append(ch)
                pos += 1
                continue
            pos += 1
            if text[pos] == "$":
                out.append("$")
                pos += 1
                continue
            if text[pos] == "!":
                while pos + 1 < len(text) and text[pos + 1] != " ":
                    pos += 1
                pos += 1
                continue
            found = _var_name(text, pos)
            if found is None:
                raise KeyError("missing '}'")
            name, pos = found
            seq = _uint32(name)
            if seq is not None:
                out.append(self.relative_seq(seq))
            elif name in self.variables:
                out.append(self.variables[name])
            elif unset_ok:
                out.append("$")
            else:
                raise KeyError(name)
        return "".join(out)

    def _modseq(self, index: int, text: str) -> str:
        if not (text.isascii() and text.isdigit()):
            return "$modseq-not-number"
        if self.modseq_index > index:
            return "$modseq-order-mismatch"
        value = int(text)
        at_least = self.modseq_value + (index - self.modseq_index)
        if value < at_least:
            text, value = f"$modseq-at-least-{at_least}", at_least
        self.modseq_index, self.modseq_value = index, value
        return text

    def _next_text(self, pattern: str) -> tuple[str, bool]:
        """What follows an unset variable, to know where its value ends (and case rule)."""
        if not pattern.startswith("$") or pattern.startswith("$$"):
            return pattern.removeprefix("$"), True
        found = _var_name(pattern, 1)
        if found is None:
            return "", True
        name = found[0]
        if name.startswith("case:"):
            return name[5:], False
        seq = _uint32(name)
        if seq is not None:
            return self.relative_seq(seq), True
        return self.variables.get(name, ""), True

    def expand_input(self, pattern: str, given: str) -> tuple[str, bool] | None:
        """Expand ``pattern`` against the server's ``given`` text, binding unset variables.

        Returns the expanded pattern and whether to compare case-insensitively, or None on a
        mismatch found on the way.
        """
        icase = True
        out: list[str] = []
        pos = at = 0
        while pos < len(pattern):
            ch = pattern[pos]
            if ch != "$" or pattern[pos + 1 : pos + 2] == "$":
                if ch == "$":
                    pos += 1
                    ch = pattern[pos]
                if at >= len(given) or upper(ch) != upper(given[at]):
                    return None
                out.append(ch)
                pos += 1
                at += 1
                continue
            found = _var_name(pattern, pos + 1)
            if found is None:
                return "", icase
            name, pos = found
            seq = _uint32(name)
            if seq is not None:
                value = self.relative_seq(seq)
            elif name.startswith("case:"):
                icase = False
                value = name[5:]
            elif name and name in self.variables:
                value = self.variables[name]
            else:
                following, next_icase = self._next_text(pattern[pos:])
                end = at
                if following:
                    stop = following[0]
                    while end < len(given) and (
                        upper(given[end]) != upper(stop) if next_icase else given[end] != stop
                    ):
                        end += 1
                else:
                    end = len(given)
                value = given[at:end]
                if name.startswith("modseq") and _uint32(name[6:]) is not None:
                    value = self._modseq(int(name[6:]), value)
                    self.variables[name] = value
                elif name:
                    self.variables[name] = value
                    self.added.append(name)
            out.append(value)
            if given[at : at + len(value)] != value:
                return None
            at += len(value)
        return "".join(out), icase

    # -- values -------------------------------------------------------------------------------

    def match_args(
        self,
        expected: Sequence[Value],
        given: Sequence[Value],
        limit: int = FULL,
        prefix: bool = False,
    ) -> int:
        """FULL when ``given`` matches ``expected``, else how many values matched first.

        With ``prefix``, extra values may follow, and the last expected string needs only to be
        a prefix of the value it is compared with (status replies with free text after them).
        """
        matched = 0
        at = 0
        for index, want in enumerate(expected):
            if limit == 0:
                break
            got: Value | None = given[at] if at < len(given) else None
            if isinstance(want, Nil):
                if not isinstance(got, Nil):
                    return matched
            elif isinstance(want, list):
                if not isinstance(got, list):
                    return matched
                sub = self.match_list(want, got)
                if sub != FULL:
                    return matched + sub
            elif want.text == "$" and isinstance(got, list):
                pass
            elif want.text == "$]":
                while isinstance(got, Atom) and "]" not in got.text:
                    at += 1
                    got = given[at] if at < len(given) else None
            else:
                if not isinstance(got, (Atom, String)):
                    return matched
                given_text = _c_string(got.text)
                result = self.expand_input(_c_string(want.text), given_text)
                if result is None:
                    return matched
                text, icase = result
                a, b = (upper(given_text), upper(text)) if icase else (given_text, text)
                last = index == len(expected) - 1
                if not (a.startswith(b) if prefix and last else a == b):
                    return matched
            matched += 1
            at += 1
            limit -= 1
        if prefix or at >= len(given) or limit == 0:
            return FULL
        return matched

    def match_list(self, expected: Sequence[Value], given: Sequence[Value]) -> int:
        unordered = False
        chain = 1
        noextra: bool | None = None
        ignores: list[str] = []
        bans: list[str] = []
        start = 0
        for value in expected:
            if not is_directive(value):
                break
            assert isinstance(value, Atom)
            name = value.text[2:]
            start += 1
            if name.startswith("unordered"):
                unordered = True
                noextra = False if noextra is None else noextra
                if name.startswith("unordered="):
                    chain = int(name[10:])
            elif name == "ordered":
                unordered = False
            elif name == "extra":
                noextra = False
            elif name == "noextra":
                noextra = True
            elif name.startswith("ignore="):
                ignores.append(upper(name[7:]))
            elif name.startswith("ban="):
                bans.append(upper(name[4:]))
        rest = expected[start:]
        if not unordered:
            return self.match_args(rest, given)
        if len(given) % chain:
            return 0
        seen = [False] * len(given)
        matched = 0
        for m in range(0, len(rest), chain):
            for i in range(0, len(given), chain):
                if self.match_args(rest[m:], given[i:], chain) == FULL:
                    seen[i] = True
                    break
            else:
                return matched
            matched += 1
        for i in range(0, len(given), chain):
            value = given[i]
            if seen[i] or not isinstance(value, (Atom, String)):
                continue
            if noextra is not False and upper(value.text) not in ignores:
                return matched
            if noextra is False and upper(value.text) in bans:
                return matched
        return FULL
