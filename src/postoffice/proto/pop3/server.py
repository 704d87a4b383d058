"""The sans-I/O POP3 server core.

Bytes go in with `receive_data()`; `next_event()` handles one command line at a time and
returns an event or NEED_DATA. The core answers by itself everything it can decide from the
maildrop it was given at login: STAT, LIST, UIDL, DELE, RSET, NOOP, CAPA, USER, syntax and
state errors, SASL continuations. It waits for the adapter after Credentials
(authenticated/auth_failed), Retr and Top (send_message/unavailable) and Update
(updated/unavailable); pipelined commands (RFC 2449 PIPELINING) stay buffered meanwhile, so
responses leave in command order. Idle timeouts belong to the adapter.

Typical adapter loop:
    conn.greet()
    while True:
        event = conn.next_event()
        if event is NEED_DATA: write(conn.data_to_send()); conn.receive_data(await read())
        elif isinstance(event, Closed): write(conn.data_to_send()); break
        elif isinstance(event, Credentials): conn.authenticated(store.lock(...)) or auth_failed
        elif isinstance(event, (Retr, Top)): conn.send_message(store.read(event.uid))
        elif isinstance(event, StartTls): write(conn.data_to_send()); handshake; conn.tls_started()
        elif isinstance(event, Update): store.expunge(event.uids); conn.updated()
"""

from __future__ import annotations

from postoffice.proto.pop3 import responses as R
from postoffice.proto.pop3.config import ServerConfig
from postoffice.proto.pop3.events import (
    NEED_DATA,
    NEEDS_REPLY,
    Credentials,
    Event,
    NeedData,
    Retr,
    Top,
    Update,
)
from postoffice.proto.pop3.maildrop import Maildrop
from postoffice.proto.pop3.session import LocalProtocolError, Session, State

__all__ = ["LocalProtocolError", "ServerConfig", "ServerConnection", "State"]


class ServerConnection(Session):
    """One POP3 server session, without I/O. See the module docstring."""

    # -- the adapter's side ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ignored once closed and while a TLS handshake is due."""
        if self._state not in (State.CLOSED, State.TLS) and not self._eof:
            self._buf += data

    def receive_eof(self) -> None:
        """The client hung up: Closed("eof") follows the buffered commands, with no update."""
        self._eof = True

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def greet(self, text: str = "POP3 server ready") -> None:
        if self._state is not State.GREETING:
            raise LocalProtocolError("greet() twice")
        self._out += R.ok(text)
        self._state = State.AUTHORIZATION

    def tls_started(self) -> None:
        """The TLS handshake after STLS is done; the session starts afresh (RFC 2595 4)."""
        if self._state is not State.TLS:
            raise LocalProtocolError("tls_started() without an accepted STLS")
        self._buf.clear()
        self._secure = True
        self._state = State.AUTHORIZATION

    def next_event(self) -> Event | NeedData:
        while True:
            if self._events:
                event = self._events.popleft()
                if isinstance(event, NEEDS_REPLY):
                    self._pending = event
                return event
            if self._closed is not None:
                return self._closed
            if self._pending is not None or self._state in (State.GREETING, State.TLS):
                return NEED_DATA
            line = self._next_line()
            if line is None:
                if self._eof:
                    self._close("eof")
                    continue
                return NEED_DATA
            self._handle(line)

    def authenticated(self, maildrop: list[tuple[int, str]]) -> None:
        """Accept the Credentials; `maildrop` is (size in octets, unique id) per message."""
        self._answer(Credentials)
        self._maildrop = Maildrop(maildrop)
        count, octets = self._maildrop.stat()
        self._out += R.ok(f"maildrop has {count} messages ({octets} octets)")
        self._state = State.TRANSACTION

    def auth_failed(self, reason: str = "Authentication failed", code: str = "AUTH") -> None:
        """Refuse the Credentials: code "AUTH" (counts towards the limit), "IN-USE" when the
        maildrop is locked, "SYS/TEMP" for a transient failure."""
        self._answer(Credentials)
        self._out += R.err(reason, code)
        if code == "AUTH":
            self._failures += 1
            if self._failures >= self.config.max_failed_logins:
                self._close("too-many-failures")

    def send_message(self, data: bytes) -> None:
        """Answer Retr or Top with the whole message (CRLF or LF line ends); the core cuts
        it for TOP, dot-stuffs it and terminates the multi-line response."""
        event = self._answer(Retr, Top)
        if isinstance(event, Top):
            self._out += R.ok() + R.multiline(R.top(data, event.lines))
        else:
            self._out += R.ok(f"{len(data)} octets") + R.message_body(data)

    def unavailable(self, reason: str = "Try again later") -> None:
        """Answer Retr, Top or Update with -ERR [SYS/TEMP]; a failed update ends the session."""
        event = self._answer(Retr, Top, Update)
        self._out += R.err(reason, "SYS/TEMP")
        if isinstance(event, Update):
            self._close("unavailable")

    def updated(self) -> None:
        """The deletions of Update are applied: say goodbye and close."""
        self._answer(Update)
        self._out += R.ok("Bye")
        self._close("quit")

