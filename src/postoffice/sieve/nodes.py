"""The parsed form of a Sieve script (RFC 5228 section 8.2 grammar) and its error."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.errors import PostofficeError


class SieveError(PostofficeError):
    """A script that cannot be parsed, checked or run; `line` is 1-based (0: not known)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.reason = message
        self.line = line


@dataclass(frozen=True)
class Tag:
    """`:is`, `:comparator`, ... (name lower-cased, without the colon)."""

    name: str
    line: int


@dataclass(frozen=True)
class Number:
    value: int
    line: int


@dataclass(frozen=True)
class Strings:
    """A string list; `bracketed` is False for a lone string."""

    values: tuple[str, ...]
    bracketed: bool
    line: int


Argument = Tag | Number | Strings


@dataclass(frozen=True)
class Test:
    name: str
    """Lower-cased identifier."""
    args: tuple[Argument, ...]
    tests: tuple[Test, ...]
    line: int


@dataclass(frozen=True)
class Command:
    name: str
    """Lower-cased identifier."""
    args: tuple[Argument, ...]
    tests: tuple[Test, ...]
    block: tuple[Command, ...] | None
    """The commands between braces; None when the command ends with `;`."""
    line: int


@dataclass(frozen=True)
class Script:
    commands: tuple[Command, ...]
