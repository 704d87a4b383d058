"""Events the POP3 server core emits (see server.py).

Events in NEEDS_REPLY leave the core waiting for the adapter's answer; the others are
notifications of commands the core has already answered from the maildrop it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class Credentials(Event):
    """USER/PASS or AUTH PLAIN (answer with authenticated() or auth_failed())."""

    user: str
    password: str = field(repr=False)
    mechanism: str = "USER"
    """"USER" for USER/PASS, else the SASL mechanism."""
    authzid: str = ""


@dataclass(frozen=True)
class StartTls(Event):
    """STLS was accepted: the adapter does the handshake, then calls tls_started()."""


@dataclass(frozen=True)
class Retr(Event):
    """RETR (answer with send_message(whole message) or unavailable())."""

    number: int
    uid: str


@dataclass(frozen=True)
class Top(Event):
    """TOP (answer with send_message(whole message); the core cuts it to `lines`)."""

    number: int
    uid: str
    lines: int


@dataclass(frozen=True)
class Update(Event):
    """QUIT in TRANSACTION: expunge these messages (answer with updated() or unavailable())."""

    deleted: tuple[int, ...]
    """Message numbers, ascending."""
    uids: tuple[str, ...]
    """Their unique ids, in the same order."""


@dataclass(frozen=True)
class Stat(Event):
    """STAT (answered)."""


@dataclass(frozen=True)
class List(Event):
    """LIST (answered)."""

    number: int | None


@dataclass(frozen=True)
class Uidl(Event):
    """UIDL (answered)."""

    number: int | None


@dataclass(frozen=True)
class Dele(Event):
    """DELE (answered; the deletion takes effect only at Update)."""

    number: int


@dataclass(frozen=True)
class Rset(Event):
    """RSET (answered; deletion marks cleared)."""


@dataclass(frozen=True)
class Noop(Event):
    """NOOP (answered)."""


@dataclass(frozen=True)
class Closed(Event):
    """The session is over: flush data_to_send() and close the connection."""

    reason: str
    """"quit", "eof", "too-many-failures", "unavailable" or "line-too-long"."""


NEEDS_REPLY = (Credentials, Retr, Top, Update)


class NeedData:
    """Sentinel: the core needs more bytes (or an answer) before the next event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
