"""Events of the SMTP client core (see client.py) and the peer's EHLO extensions."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.proto.smtp.client_results import SessionFailure, TransactionResult
from postoffice.proto.smtp.reply import Reply


@dataclass(frozen=True)
class Extensions:
    """What the peer offered in its EHLO reply (all False/None after HELO)."""

    esmtp: bool = False
    """True after a positive EHLO: MAIL/RCPT parameters may be sent."""
    pipelining: bool = False
    size: int | None = None
    """None: SIZE not offered; 0: offered without a limit; n: the peer's limit in octets."""
    eightbitmime: bool = False
    smtputf8: bool = False
    starttls: bool = False
    auth: tuple[str, ...] = ()
    """SASL mechanisms offered, upper case."""
    chunking: bool = False
    dsn: bool = False
    enhancedstatuscodes: bool = False
    keywords: tuple[str, ...] = ()
    """Every keyword offered, upper case, in the peer's order (including unknown ones)."""
    greeting: str = ""
    """The first line of the EHLO/HELO reply (the peer's name, usually)."""

    @classmethod
    def parse(cls, reply: Reply) -> Extensions:
        """The extensions of a positive EHLO reply."""
        fields: dict[str, object] = {}
        keywords: list[str] = []
        auth: list[str] = []
        for line in reply.lines[1:]:
            words = line.split()
            if not words:
                continue
            keyword = words[0].upper()
            if keyword.startswith("AUTH="):  # pre-RFC 4954 servers: "AUTH=LOGIN PLAIN"
                words = [keyword[5:], *words[1:]]
                keyword = "AUTH"
            else:
                words = words[1:]
            keywords.append(keyword)
            if keyword == "AUTH":
                auth += [w.upper() for w in words if w and w.upper() not in auth]
            elif keyword == "SIZE":
                value = words[0] if words else ""
                fields["size"] = int(value) if value.isascii() and value.isdigit() else 0
            elif keyword in _FLAGS:
                fields[_FLAGS[keyword]] = True
        return cls(
            esmtp=True,
            auth=tuple(auth),
            keywords=tuple(keywords),
            greeting=reply.lines[0],
            **fields,  # type: ignore[arg-type]
        )

    @classmethod
    def helo(cls, reply: Reply) -> Extensions:
        """After HELO: plain RFC 821 SMTP."""
        return cls(greeting=reply.lines[0])


_FLAGS = {
    "PIPELINING": "pipelining",
    "8BITMIME": "eightbitmime",
    "SMTPUTF8": "smtputf8",
    "STARTTLS": "starttls",
    "CHUNKING": "chunking",
    "DSN": "dsn",
    "ENHANCEDSTATUSCODES": "enhancedstatuscodes",
}


@dataclass(frozen=True)
class ClientEvent:
    """Base class of the client core's events."""


@dataclass(frozen=True)
class SessionReady(ClientEvent):
    """Greeting, EHLO (or HELO), STARTTLS and AUTH are done: transactions may start."""

    extensions: Extensions


@dataclass(frozen=True)
class UpgradeTls(ClientEvent):
    """The peer said 220 to STARTTLS: do the TLS handshake now, then call `tls_started()`
    (or `fail()` when it does not succeed). Bytes received meanwhile are discarded."""


@dataclass(frozen=True)
class ContentWanted(ClientEvent):
    """Send the next piece of content with `send_content()`, or `end_content()`."""


@dataclass(frozen=True)
class TransactionDone(ClientEvent):
    """The transaction is over; every recipient has its outcome."""

    result: TransactionResult


@dataclass(frozen=True)
class SessionClosed(ClientEvent):
    """The session is over: flush `data_to_send()` and close the connection."""

    failure: SessionFailure | None
    """None after our QUIT; otherwise why the session ended."""


class Idle:
    """Sentinel: nothing to do until the adapter starts a transaction or quits."""

    def __repr__(self) -> str:
        return "IDLE"


IDLE = Idle()
