"""Events the SMTP server core emits (see server.py for the theory of operation).

Events marked "needs a reply" leave the core waiting: the adapter answers with
`ServerConnection.send(Reply)`, and the reply commits (2xx/3xx) or refuses (4xx/5xx)
the transition. The others are notifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class Hello(Event):
    """EHLO, HELO or LHLO (needs a reply; `ServerConnection.hello_reply` builds the positive one)."""

    verb: str
    """"EHLO", "HELO" or "LHLO"."""
    domain: str
    """The client's claimed name or address literal, as sent."""


@dataclass(frozen=True)
class StartTls(Event):
    """STARTTLS (needs a reply: 220 then the adapter does the handshake and calls tls_started)."""


@dataclass(frozen=True)
class AuthCredentials(Event):
    """A completed SASL PLAIN or LOGIN exchange (needs a reply: 235 or 535)."""

    mechanism: str
    authzid: str
    """Authorisation identity ("" when none was given)."""
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class MailFrom(Event):
    """MAIL FROM (needs a reply)."""

    address: str
    """Reverse path without angle brackets; "" for the null sender."""
    params: dict[str, str | None] = field(default_factory=dict, hash=False, compare=True)
    """ESMTP parameters, keys upper-case, already validated (SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH)."""


@dataclass(frozen=True)
class RcptTo(Event):
    """RCPT TO (needs a reply)."""

    address: str
    """Forward path without angle brackets, source route removed."""
    params: dict[str, str | None] = field(default_factory=dict, hash=False, compare=True)
    """ESMTP parameters, keys upper-case, validated (NOTIFY, ORCPT)."""
    source_route: bool = False
    """True when the path carried an RFC 5321 source route (@a,@b:user@c)."""


@dataclass(frozen=True)
class DataStart(Event):
    """DATA (needs a reply: 354 to receive the content)."""


@dataclass(frozen=True)
class DataChunk(Event):
    """A piece of message content, dot-unstuffed, CRLF line ends kept."""

    data: bytes


@dataclass(frozen=True)
class BdatChunkEnd(Event):
    """A BDAT chunk without LAST is complete (needs a reply: 250)."""

    size: int


@dataclass(frozen=True)
class DataEnd(Event):
    """The whole message has arrived: end of DATA or BDAT LAST (needs the final reply)."""

    size: int
    """Octets of content received."""


@dataclass(frozen=True)
class DataRejected(Event):
    """The core refused the content itself and already queued the reply (no reply needed).

    The adapter discards what it spooled for this transaction."""

    reason: str
    """"bare-newline", "too-large" or "line-too-long"."""


@dataclass(frozen=True)
class Reset(Event):
    """The transaction was reset (RSET, a new EHLO, STARTTLS); discard it. No reply needed."""


@dataclass(frozen=True)
class Verify(Event):
    """VRFY when enabled (needs a reply)."""

    argument: str


@dataclass(frozen=True)
class Closed(Event):
    """The session is over (QUIT answered, fatal error answered, or the client hung up).

    The adapter flushes data_to_send() and closes the connection."""

    reason: str
    """"quit", "eof", "too-many-errors" or another short token."""


class NeedData:
    """Sentinel: the core needs more bytes before it can produce another event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
