"""Events the ManageSieve server core emits (see server.py).

Authenticate and the Request subclasses leave the core waiting for the adapter: answer
Authenticate with authenticated() or auth_failed(), a Request with
answer(perform(store, request)), either with unavailable() when the back end fails. StartTls
asks for the handshake, then tls_started(); Closed ends the session."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Base class of every event."""


@dataclass(frozen=True)
class Authenticate(Event):
    """AUTHENTICATE PLAIN completed: verify the credentials."""

    username: str
    password: str = field(repr=False)
    authzid: str = ""
    """"" or the username (anything else is refused by the core)."""


@dataclass(frozen=True)
class StartTls(Event):
    """STARTTLS was accepted: do the handshake, then call tls_started()."""


@dataclass(frozen=True)
class Request(Event):
    """A script operation for the authenticated `user`: answer(perform(store, request)),
    with perform run off the event loop (it calls the store and the Sieve checker)."""

    user: str


@dataclass(frozen=True)
class ListScripts(Request):
    pass


@dataclass(frozen=True)
class GetScript(Request):
    name: str


@dataclass(frozen=True)
class PutScript(Request):
    """Store `source` (UTF-8, at most max_script_size octets) when it is a valid script."""

    name: str
    source: str
    max_scripts: int


@dataclass(frozen=True)
class CheckScript(Request):
    """Validate `source` without storing it."""

    source: str


@dataclass(frozen=True)
class HaveSpace(Request):
    name: str
    size: int
    max_scripts: int


@dataclass(frozen=True)
class DeleteScript(Request):
    name: str


@dataclass(frozen=True)
class RenameScript(Request):
    old: str
    new: str


@dataclass(frozen=True)
class SetActive(Request):
    name: str | None
    """None deactivates every script (SETACTIVE "")."""


@dataclass(frozen=True)
class Closed(Event):
    """The session is over: flush data_to_send() and close the connection."""

    reason: str
    """"logout", "eof", "too-many-failures", "line-too-long" or "literal-too-large"."""


NEEDS_REPLY = (Authenticate, Request)


class NeedData:
    """Sentinel: the core needs more bytes (or an answer) before the next event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
