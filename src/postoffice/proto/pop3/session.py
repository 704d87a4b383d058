"""State and command handling of the POP3 server core (the adapter's API is in server.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

from postoffice.proto import sasl
from postoffice.proto.pop3 import responses as R
from postoffice.proto.pop3.config import ServerConfig
from postoffice.proto.pop3.events import (
    Closed,
    Credentials,
    Dele,
    Event,
    List,
    Noop,
    Retr,
    Rset,
    StartTls,
    Stat,
    Top,
    Uidl,
    Update,
)
from postoffice.proto.pop3.maildrop import Maildrop


class LocalProtocolError(RuntimeError):
    """The adapter used the core wrongly (an answer nobody asked for)."""


class State(Enum):
    GREETING = "greeting"
    AUTHORIZATION = "authorization"
    TLS = "tls"
    """STLS accepted; waiting for tls_started()."""
    TRANSACTION = "transaction"
    UPDATE = "update"
    CLOSED = "closed"


class Session:
    """The session state and the command handlers."""

    def __init__(self, config: ServerConfig | None = None, *, secure: bool = False) -> None:
        self.config = config or ServerConfig()
        self._secure = secure
        self._state = State.GREETING
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._closed: Closed | None = None
        self._eof = False
        self._skipping = False
        """Discarding the rest of an overlong line."""
        self._user: str | None = None
        self._sasl: sasl.Mechanism | None = None
        self._failures = 0
        self._maildrop = Maildrop(())

    @property
    def state(self) -> State:
        return self._state

    @property
    def secure(self) -> bool:
        return self._secure

    @property
    def auth_allowed(self) -> bool:
        """USER/PASS and AUTH are accepted now (TLS is up or plaintext is allowed)."""
        return self._secure or self.config.plaintext_auth

    def capabilities(self) -> list[str]:
        """The CAPA lines for the current state (RFC 2449 section 6)."""
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self._state is State.AUTHORIZATION:
            if self.auth_allowed:
                caps += ["USER", "SASL PLAIN"]
            if self.config.tls_available and not self._secure:
                caps.append("STLS")
        if self.config.implementation:
            caps.append(f"IMPLEMENTATION {self.config.implementation}")
        return caps

    # -- internals -------------------------------------------------------------------------

    def _answer(self, *kinds: type[Event]) -> Event:
        event = self._pending
        if not isinstance(event, kinds):
            raise LocalProtocolError(f"no {'/'.join(k.__name__ for k in kinds)} awaits an answer")
        self._pending = None
        return event

    def _close(self, reason: str) -> None:
        self._state = State.CLOSED
        self._closed = Closed(reason)
        self._buf.clear()

    def _limit(self) -> int:
        if self._sasl is not None or bytes(self._buf[:5]).upper() == b"AUTH ":
            return self.config.max_auth_line
        return self.config.max_line

    def _next_line(self) -> bytes | None:
        """The next complete line without its ending; overlong lines are refused and skipped."""
        while True:
            end, limit = self._buf.find(b"\n"), self._limit()
            if end < 0:
                if len(self._buf) >= limit or self._skipping:
                    if not self._skipping:
                        self._refuse_long_line()
                    self._buf.clear()
                return None
            line = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if self._skipping:
                self._skipping = False
                continue
            if end + 1 > limit:
                self._refuse_long_line()
                self._skipping = False
                continue
            return line[:-1] if line.endswith(b"\r") else line

    def _refuse_long_line(self) -> None:
        self._skipping = True
        self._sasl = None
        self._out += R.err("Line too long")

    def _handle(self, line: bytes) -> None:
        if self._sasl is not None:
            self._sasl_response(line)
            return
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self._out += R.err("Commands are ASCII")
            return
        verb, _, arg = text.partition(" ")
        verb = verb.upper()
        args = arg.split(" ") if arg else []
        handlers = _AUTHORIZATION if self._state is State.AUTHORIZATION else _TRANSACTION
        handler = handlers.get(verb)
        if handler is None:
            known = verb in _AUTHORIZATION or verb in _TRANSACTION
            self._out += R.err("Not allowed now" if known else "Unknown command")
        else:
            handler(self, args)

    # -- commands of both states ---------------------------------------------------------

    def _capa(self, args: list[str]) -> None:
        self._out += R.ok("Capability list follows")
        self._out += R.multiline(c.encode() for c in self.capabilities())

    def _quit(self, args: list[str]) -> None:
        if self._state is State.TRANSACTION:
            self._state = State.UPDATE
            deleted = self._maildrop.deleted()
            self._events.append(Update(deleted, tuple(self._maildrop.uid(n) for n in deleted)))
        else:
            self._out += R.ok("Bye")
            self._close("quit")

    # -- AUTHORIZATION -------------------------------------------------------------------

    def _login_refused(self) -> bool:
        if self.auth_allowed:
            return False
        self._out += R.err("Plaintext authentication disallowed before STLS", "AUTH")
        return True

    def _user_cmd(self, args: list[str]) -> None:
        if self._login_refused():
            return
        if len(args) != 1 or not args[0]:
            self._out += R.err("Usage: USER name")
            return
        self._user = args[0]
        self._out += R.ok("Send PASS")

    def _pass(self, args: list[str]) -> None:
        user, self._user = self._user, None
        if self._login_refused():
            return
        if user is None:
            self._out += R.err("USER first")
            return
        password = " ".join(args)  # RFC 1939 7: the password may contain spaces
        self._events.append(Credentials(user, password))

    def _auth(self, args: list[str]) -> None:
        self._user = None
        if self._login_refused():
            return
        if not args or len(args) > 2:
            self._out += R.err("Usage: AUTH mechanism [initial-response]")
            return
        if args[0].upper() != sasl.Plain.name:
            self._out += R.err("Unsupported mechanism")
            return
        mechanism = sasl.Plain()
        try:
            initial = None if len(args) == 1 else (
                b"" if args[1] == "=" else sasl.decode_response(args[1].encode()))
            self._sasl_step(mechanism, mechanism.start(initial))
        except sasl.SaslError as exc:
            self._out += R.err(f"Malformed response: {exc}")

    def _stls(self, args: list[str]) -> None:
        if self._secure or not self.config.tls_available:
            self._out += R.err("STLS not available")
            return
        self._out += R.ok("Begin TLS negotiation")
        self._buf.clear()  # never act on commands sent before the handshake
        self._user = None
        self._state = State.TLS
        self._events.append(StartTls())

    # -- TRANSACTION ---------------------------------------------------------------------

    def _number(self, arg: str) -> int | None:
        """A message number that exists and is not deleted; else answers -ERR."""
        number = int(arg) if arg.isdigit() and arg.isascii() else 0
        if self._maildrop.valid(number):
            return number
        self._out += R.err("No such message")
        return None

    def _arity(self, args: list[str], low: int, high: int) -> bool:
        if low <= len(args) <= high:
            return True
        self._out += R.err("Wrong number of arguments")
        return False

    def _stat(self, args: list[str]) -> None:
        if self._arity(args, 0, 0):
            count, octets = self._maildrop.stat()
            self._out += R.ok(f"{count} {octets}")
            self._events.append(Stat())

    def _listing(self, args: list[str], value: Callable[[int], str],
                 kind: type[List | Uidl]) -> None:
        if not self._arity(args, 0, 1):
            return
        if args:
            number = self._number(args[0])
            if number is not None:
                self._out += R.ok(f"{number} {value(number)}")
                self._events.append(kind(number))
            return
        self._out += R.ok(f"{self._maildrop.stat()[0]} messages")
        self._out += R.multiline(f"{n} {value(n)}".encode() for n in self._maildrop.live())
        self._events.append(kind(None))

    def _list(self, args: list[str]) -> None:
        self._listing(args, lambda n: str(self._maildrop.size(n)), List)

    def _uidl(self, args: list[str]) -> None:
        self._listing(args, self._maildrop.uid, Uidl)

    def _retr(self, args: list[str]) -> None:
        if self._arity(args, 1, 1) and (number := self._number(args[0])) is not None:
            self._events.append(Retr(number, self._maildrop.uid(number)))

    def _top(self, args: list[str]) -> None:
        if not self._arity(args, 2, 2):
            return
        if not (args[1].isdigit() and args[1].isascii()):
            self._out += R.err("Line count must be a non-negative number")
            return
        if (number := self._number(args[0])) is not None:
            self._events.append(Top(number, self._maildrop.uid(number), int(args[1])))

    def _dele(self, args: list[str]) -> None:
        if self._arity(args, 1, 1) and (number := self._number(args[0])) is not None:
            self._maildrop.delete(number)
            self._out += R.ok(f"Message {number} deleted")
            self._events.append(Dele(number))

    def _rset(self, args: list[str]) -> None:
        if self._arity(args, 0, 0):
            self._maildrop.reset()
            count, octets = self._maildrop.stat()
            self._out += R.ok(f"maildrop has {count} messages ({octets} octets)")
            self._events.append(Rset())

    def _noop(self, args: list[str]) -> None:
        if self._arity(args, 0, 0):
            self._out += R.ok()
            self._events.append(Noop())

    def _sasl_response(self, line: bytes) -> None:
        mechanism, self._sasl = self._sasl, None
        assert mechanism is not None
        if line == b"*":
            self._out += R.err("Authentication cancelled")
            return
        try:
            self._sasl_step(mechanism, mechanism.respond(sasl.decode_response(line)))
        except sasl.SaslError as exc:
            self._out += R.err(f"Malformed response: {exc}")

    def _sasl_step(self, mechanism: sasl.Mechanism, step: sasl.Step) -> None:
        if isinstance(step, sasl.Challenge):
            self._sasl = mechanism
            self._out += b"+ " + sasl.encode_challenge(step.data) + b"\r\n"
        else:
            self._events.append(Credentials(step.username, step.password, step.mechanism,
                                            step.authzid))


_Handler = Callable[[Session, list[str]], None]
_AUTHORIZATION: dict[str, _Handler] = {
    "CAPA": Session._capa, "QUIT": Session._quit, "USER": Session._user_cmd,
    "PASS": Session._pass, "AUTH": Session._auth, "STLS": Session._stls,
}
_TRANSACTION: dict[str, _Handler] = {
    "CAPA": Session._capa, "QUIT": Session._quit, "STAT": Session._stat, "LIST": Session._list,
    "UIDL": Session._uidl, "RETR": Session._retr, "TOP": Session._top, "DELE": Session._dele,
    "RSET": Session._rset, "NOOP": Session._noop,
}
