"""Typed parse errors: each says how the server should answer it.

BAD: the command is answered `tag BAD text`; NO: `tag NO [code] text` (a Refusal) (or `* BAD` when no tag was read) and the
connection goes on. TOOBIG: a synchronising literal over the limit was refused before the
client sent it, answered `tag NO [TOOBIG]`. FATAL: the stream can no longer be framed
(overlong line, oversized non-synchronising literal): answer `* BYE` and close.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(Enum):
    BAD = "BAD"
    NO = "NO"
    TOOBIG = "TOOBIG"
    FATAL = "FATAL"


class GrammarError(ValueError):
    """A command that does not follow the formal syntax (Severity.BAD)."""


class Refusal(GrammarError):
    """A well-formed command the server cannot take: answered `tag NO code text`, not BAD."""

    code = "[CANNOT]"


class BadName(Refusal):
    """An argument naming nothing that can exist, such as a mailbox name in broken modified
    UTF-7."""


class BadCharset(Refusal):
    """A CHARSET we do not know, or search text that is not in it (RFC 9051 6.4.4)."""

    code = "[BADCHARSET (UTF-8 US-ASCII)]"


@dataclass(frozen=True)
class ParseError:
    """A command the parser could not accept; `tag` is None when no valid tag was read."""

    tag: str | None
    text: str
    severity: Severity = Severity.BAD
    code: str | None = None
    """The response code of a NO (Severity.NO)."""
