"""What the command parser hands to the server core (see parser.py)."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.proto.imap.commands import Command
from postoffice.proto.imap.errors import ParseError


class NeedData:
    """More bytes are needed before anything else can be reported."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()


@dataclass(frozen=True)
class NeedContinuation:
    """A synchronising literal `{size}` is announced: the server core answers with
    `parser.continue_literal()` after sending "+ ...", or `parser.reject_literal()` after a
    tagged NO/BAD (the client then abandons the command)."""

    tag: str | None
    size: int


@dataclass(frozen=True)
class ClientLine:
    """A raw line asked for with `parser.expect_line()`: a SASL response or IDLE's DONE."""

    data: bytes

    @property
    def is_done(self) -> bool:
        return self.data.upper() == b"DONE"

    @property
    def is_cancel(self) -> bool:
        """"*" cancels an AUTHENTICATE exchange."""
        return self.data == b"*"


ParserEvent = Command | ParseError | NeedContinuation | ClientLine | NeedData
