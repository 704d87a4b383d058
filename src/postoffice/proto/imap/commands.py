"""Parsed commands: `Command(tag, name, arguments)` with one argument type per command family."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from postoffice.proto.imap.fetch import FetchAttribute
from postoffice.proto.imap.search import SearchKey
from postoffice.proto.imap.values import SequenceSet


@dataclass(frozen=True)
class Arguments:
    """No arguments (CAPABILITY, NOOP, LOGOUT, STARTTLS, NAMESPACE, IDLE, CLOSE, UNSELECT,
    EXPUNGE); base of the others."""


@dataclass(frozen=True)
class Authenticate(Arguments):
    mechanism: str
    """Upper-case SASL mechanism name."""
    initial_response: bytes | None = field(default=None, repr=False)
    """SASL-IR: decoded initial response (b"" for "="), None when absent."""


@dataclass(frozen=True)
class Login(Arguments):
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Enable(Arguments):
    capabilities: tuple[str, ...]
    """Upper-case capability names."""


@dataclass(frozen=True)
class Mailbox(Arguments):
    """SELECT, EXAMINE, CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE."""

    mailbox: str
    parameters: tuple[tuple[str, object], ...] = ()
    """Select/create parameters such as (CONDSTORE) as (NAME, value or None)."""


@dataclass(frozen=True)
class Rename(Arguments):
    old: str
    new: str


@dataclass(frozen=True)
class List(Arguments):
    """LIST with LIST-EXTENDED (RFC 5258) selection and return options, upper-case."""

    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()
    returns: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()
    """Items of RETURN (STATUS (...)) (RFC 5819), upper-case."""
    extended: bool = False
    """True for the extended form (options or several patterns): answer with extended data."""


@dataclass(frozen=True)
class Status(Arguments):
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class AppendMessage:
    flags: tuple[str, ...]
    date_time: datetime | None
    data: bytes = field(repr=False)
    binary: bool = False
    """Sent as a ~{n} literal (RFC 3516 BINARY)."""


@dataclass(frozen=True)
class Append(Arguments):
    mailbox: str
    messages: tuple[AppendMessage, ...]
    """One message, or several with MULTIAPPEND (RFC 3502)."""


@dataclass(frozen=True)
class Search(Arguments):
    key: SearchKey
    charset: str | None = None
    returns: tuple[str, ...] | None = None
    """ESEARCH RETURN options, upper-case; None without RETURN."""


@dataclass(frozen=True)
class Fetch(Arguments):
    sequence: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    modifiers: tuple[tuple[str, object], ...] = ()
    """e.g. (("CHANGEDSINCE", 12345),)."""


@dataclass(frozen=True)
class Store(Arguments):
    sequence: SequenceSet
    mode: str
    """"+" add, "-" remove, "" replace."""
    silent: bool
    flags: tuple[str, ...]
    modifiers: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Transfer(Arguments):
    """COPY and MOVE."""

    sequence: SequenceSet
    mailbox: str


@dataclass(frozen=True)
class Expunge(Arguments):
    """UID EXPUNGE (RFC 4315 / 9051)."""

    sequence: SequenceSet


@dataclass(frozen=True)
class Id(Arguments):
    """ID (RFC 2971): the client's field/value pairs; () for NIL."""

    fields: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Compress(Arguments):
    mechanism: str
    """Upper-case, e.g. DEFLATE (RFC 4978)."""


@dataclass(frozen=True)
class Quota(Arguments):
    """GETQUOTA root, SETQUOTA root (resource limit ...) (RFC 9208); GETQUOTAROOT uses
    Mailbox."""

    root: str
    limits: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Sort(Arguments):
    """SORT (RFC 5256) with RFC 5957 DISPLAYFROM/DISPLAYTO and ESORT RETURN options."""

    criteria: tuple[tuple[str, bool], ...]
    """(key, reversed) in order, upper-case: ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO,
    DISPLAYFROM, DISPLAYTO."""
    charset: str
    key: SearchKey
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Thread(Arguments):
    algorithm: str
    """Upper-case: REFERENCES or ORDEREDSUBJECT."""
    charset: str
    key: SearchKey


@dataclass(frozen=True)
class Command:
    tag: str
    name: str
    """Upper-case command name, without the UID prefix."""
    arguments: Arguments = field(default_factory=Arguments)
    uid: bool = False
