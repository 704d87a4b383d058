"""The sans-I/O ManageSieve server core.

Bytes go in with `receive_data()`; `next_event()` handles one command at a time and returns
an event or NEED_DATA. The core answers by itself what needs no back end: CAPABILITY, NOOP,
LOGOUT, STARTTLS, UNAUTHENTICATE, the SASL exchange, syntax, state and limit errors. It
waits for the adapter after Authenticate (authenticated/auth_failed) and after each Request
(answer(perform(store, request)), run off the event loop); pipelined commands stay buffered
meanwhile, so responses leave in command order. Idle timeouts belong to the adapter.

Typical adapter loop:
    conn.greet()
    while True:
        event = conn.next_event()
        if event is NEED_DATA: write(conn.data_to_send()); conn.receive_data(await read())
        elif isinstance(event, Closed): write(conn.data_to_send()); break
        elif isinstance(event, Authenticate): conn.authenticated(user) or conn.auth_failed()
        elif isinstance(event, Request): conn.answer(await in_thread(perform, store, event))
        elif isinstance(event, StartTls): write(conn.data_to_send()); handshake; conn.tls_started()
"""

from __future__ import annotations

from postoffice.proto.managesieve import responses as R
from postoffice.proto.managesieve.config import ServerConfig
from postoffice.proto.managesieve.events import (
    NEED_DATA,
    NEEDS_REPLY,
    Authenticate,
    Event,
    NeedData,
    Request,
)
from postoffice.proto.managesieve.session import LocalProtocolError, Session, State
from postoffice.proto.managesieve.wire import LineTooLong, LiteralTooLarge

__all__ = ["LocalProtocolError", "ServerConfig", "ServerConnection", "State"]


class ServerConnection(Session):
    """One ManageSieve server session, without I/O. See the module docstring."""

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ignored once closed and while a TLS handshake is due."""
        if self._state not in (State.CLOSED, State.TLS) and not self._eof:
            self._reader.feed(data)

    def receive_eof(self) -> None:
        """The client hung up: Closed("eof") follows the buffered commands."""
        self._eof = True

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def greet(self, text: str = "postoffice ManageSieve ready") -> None:
        """The greeting: the capabilities, then OK."""
        if self._state is not State.GREETING:
            raise LocalProtocolError("greet() twice")
        self._state = State.NONAUTH
        self._out += R.capabilities(self.capabilities()) + R.ok(text)

    def tls_started(self) -> None:
        """The handshake after STARTTLS is done: the capabilities again (RFC 5804 2.2)."""
        if self._state is not State.TLS:
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self._reader.clear()
        self._secure = True
        self._state = State.NONAUTH
        self._out += R.capabilities(self.capabilities()) + R.ok("TLS negotiation successful")

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
            self._set_limits()
            try:
                command = self._reader.next()
            except LineTooLong:
                self._close("line-too-long", "Line too long")
                continue
            except LiteralTooLarge:
                self._close("literal-too-large", "Literal too large")
                continue
            if command is None:
                if self._eof:
                    self._close("eof")
                    continue
                return NEED_DATA
            self._handle(command)

    def authenticated(self, user: str) -> None:
        """Accept the Authenticate event: `user` owns the scripts from now on."""
        self._answer(Authenticate)
        self._user = user
        self._state = State.AUTHENTICATED
        self._out += R.ok("Logged in")

    def auth_failed(self, reason: str = "Authentication failed") -> None:
        """Refuse the Authenticate event; the last allowed failure says BYE."""
        self._answer(Authenticate)
        self._failures += 1
        if self._failures >= self.config.max_failed_logins:
            self._close("too-many-failures", "Too many failed logins")
        else:
            self._out += R.no(reason)

    def answer(self, response: bytes) -> None:
        """Answer the Request with `perform`'s response."""
        self._answer(Request)
        self._out += response

    def unavailable(self, reason: str = "Try again later") -> None:
        """Answer Authenticate or a Request with NO (TRYLATER): the back end failed."""
        self._answer(Authenticate, Request)
        self._out += R.no(reason, "TRYLATER")
