"""State and command handling of the ManageSieve server core (the adapter's API is in
server.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

from postoffice.proto import sasl
from postoffice.proto.managesieve import responses as R
from postoffice.proto.managesieve.config import ServerConfig
from postoffice.proto.managesieve.events import (
    Authenticate,
    CheckScript,
    Closed,
    DeleteScript,
    Event,
    GetScript,
    HaveSpace,
    ListScripts,
    PutScript,
    RenameScript,
    SetActive,
    StartTls,
)
from postoffice.proto.managesieve.scripts import name_problem
from postoffice.proto.managesieve.wire import Command, Reader, Word

MAX_NUMBER = 4294967295
"""The largest number in the grammar (RFC 5804 section 4)."""


class LocalProtocolError(RuntimeError):
    """The adapter used the core wrongly (an answer nobody asked for)."""


class State(Enum):
    GREETING = "greeting"
    NONAUTH = "non-authenticated"
    TLS = "tls"
    """STARTTLS accepted; waiting for tls_started()."""
    AUTHENTICATED = "authenticated"
    CLOSED = "closed"


class Session:
    """The session state and the command handlers."""

    def __init__(self, config: ServerConfig | None = None, *, secure: bool = False) -> None:
        self.config = config or ServerConfig()
        self._secure = secure
        self._state = State.GREETING
        self._reader = Reader(self.config.max_line)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._closed: Closed | None = None
        self._eof = False
        self._user: str | None = None
        self._sasl: sasl.Mechanism | None = None
        self._failures = 0

    @property
    def state(self) -> State:
        return self._state

    @property
    def secure(self) -> bool:
        return self._secure

    @property
    def user(self) -> str | None:
        """Who authenticated; None before."""
        return self._user

    @property
    def auth_allowed(self) -> bool:
        """AUTHENTICATE is accepted now (TLS is up or plaintext is allowed)."""
        return self._secure or self.config.plaintext_auth

    def capabilities(self) -> list[tuple[str, str | None]]:
        """The capability lines for the current state (RFC 5804 section 1.7)."""
        config = self.config
        caps: list[tuple[str, str | None]] = [
            ("IMPLEMENTATION", config.implementation),
            ("SASL", sasl.Plain.name if self.auth_allowed else ""),
            ("SIEVE", " ".join(config.extensions)),
        ]
        if config.tls_available and not self._secure and self._user is None:
            caps.append(("STARTTLS", None))
        caps += [("MAXREDIRECTS", str(config.max_redirects)), ("UNAUTHENTICATE", None)]
        if self._user is not None:
            caps.append(("OWNER", self._user))
        caps.append(("VERSION", "1.0"))
        return caps

    # -- internals -------------------------------------------------------------------------

    def _answer(self, *kinds: type[Event]) -> Event:
        event = self._pending
        if not isinstance(event, kinds):
            raise LocalProtocolError(f"no {'/'.join(k.__name__ for k in kinds)} awaits an answer")
        self._pending = None
        return event

    def _close(self, reason: str, bye: str = "") -> None:
        if bye:
            self._out += R.bye(bye)
        self._state = State.CLOSED
        self._closed = Closed(reason)
        self._reader.clear()

    def _set_limits(self) -> None:
        """Large literals only after login (a script); before, they end the session."""
        reader, config = self._reader, self.config
        signed_in = self._state is State.AUTHENTICATED and self._sasl is None
        reader.literal_limit = config.max_script_size + config.max_line if signed_in \
            else config.max_auth_literal
        reader.skip_oversized = signed_in

    def _handle(self, command: Command) -> None:
        if self._sasl is not None:
            self._sasl_response(command)
            return
        if command.error:
            self._out += R.no(f"Syntax error: {command.error}")
            return
        if not command.words:
            return  # an empty line
        verb_word, args = command.words[0], command.words[1:]
        verb = verb_word.data.decode("ascii", "replace").upper()
        handlers = _AUTHENTICATED if self._state is State.AUTHENTICATED else _NONAUTH
        handler = handlers.get(verb)
        if verb_word.string or handler is None:
            known = verb in _AUTHENTICATED or verb in _NONAUTH
            self._out += R.no("Not allowed now" if known and not verb_word.string
                              else "Unknown command")
        elif command.oversized:
            self._out += R.no(f"Scripts are at most {self.config.max_script_size} octets",
                              "QUOTA/MAXSIZE")
        else:
            handler(self, args)

    def _args(self, words: list[Word], spec: str) -> list[bytes] | None:
        """The arguments when they fit `spec` (one letter each: S string, N number, s an
        optional string); else answers NO and returns None."""
        needed = sum(kind.isupper() for kind in spec)
        if not needed <= len(words) <= len(spec):
            self._out += R.no("Wrong number of arguments")
            return None
        for word, kind in zip(words, spec, strict=False):
            if kind == "N" and (word.string or not word.data.isdigit()
                                or int(word.data) > MAX_NUMBER):
                self._out += R.no("Expected a number")
                return None
            if kind in "Ss" and not word.string:
                self._out += R.no("Expected a quoted string or a literal")
                return None
        return [word.data for word in words]

    def _name(self, data: bytes) -> str | None:
        """The script name; None (after answering NO) when it is not valid."""
        problem = name_problem(data, self.config.max_name)
        if problem:
            self._out += R.no(problem)
            return None
        return data.decode()

    def _script(self, data: bytes) -> str | None:
        """The script's text; None (after answering NO) when too large or not UTF-8."""
        if len(data) > self.config.max_script_size:
            self._out += R.no(f"Scripts are at most {self.config.max_script_size} octets",
                              "QUOTA/MAXSIZE")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._out += R.no("Scripts are UTF-8")
            return None

    @property
    def _signed_in(self) -> str:
        assert self._user is not None
        return self._user

    # -- commands of every state ---------------------------------------------------------

    def _capability(self, args: list[Word]) -> None:
        if self._args(args, "") is not None:
            self._out += R.capabilities(self.capabilities()) + R.ok()

    def _noop(self, args: list[Word]) -> None:
        if (values := self._args(args, "s")) is not None:
            self._out += R.ok("Done", R.tag(values[0]) if values else "")

    def _logout(self, args: list[Word]) -> None:
        self._out += R.ok("Logout")
        self._close("logout")

    # -- non-authenticated ---------------------------------------------------------------

    def _authenticate(self, args: list[Word]) -> None:
        values = self._args(args, "Ss")
        if values is None:
            return
        mechanism = values[0].decode("ascii", "replace").upper()
        if mechanism != sasl.Plain.name:
            self._out += R.no("Use PLAIN", "AUTH-TOO-WEAK") if mechanism in sasl.MECHANISMS \
                else R.no("Unsupported mechanism")
            return
        if not self.auth_allowed:
            self._out += R.no("Use STARTTLS first", "ENCRYPT-NEEDED")
            return
        plain = sasl.Plain()
        try:
            initial = None if len(values) == 1 else sasl.decode_response(values[1])
            self._sasl_step(plain, plain.start(initial))
        except sasl.SaslError as error:
            self._out += R.no(f"Malformed response: {error}")

    def _starttls(self, args: list[Word]) -> None:
        if self._args(args, "") is None:
            return
        if self._secure or not self.config.tls_available:
            self._out += R.no("STARTTLS not available")
            return
        self._out += R.ok("Begin TLS negotiation")
        self._reader.clear()  # never act on commands sent before the handshake
        self._state = State.TLS
        self._events.append(StartTls())

    def _sasl_response(self, command: Command) -> None:
        mechanism, self._sasl = self._sasl, None
        assert mechanism is not None
        words = command.words
        if command.error or len(words) != 1 or not words[0].string:
            self._out += R.no("Expected a string")
        elif words[0].data == b"*":
            self._out += R.no("Authentication cancelled")
        else:
            try:
                self._sasl_step(mechanism, mechanism.respond(sasl.decode_response(words[0].data)))
            except sasl.SaslError as error:
                self._out += R.no(f"Malformed response: {error}")

    def _sasl_step(self, mechanism: sasl.Mechanism, step: sasl.Step) -> None:
        if isinstance(step, sasl.Challenge):
            self._sasl = mechanism
            self._out += R.string(sasl.encode_challenge(step.data)) + R.CRLF
        elif step.authzid and step.authzid != step.username:
            self._out += R.no("Authorization identity not permitted")
        else:
            self._events.append(Authenticate(step.username, step.password, step.authzid))

    # -- authenticated -------------------------------------------------------------------

    def _unauthenticate(self, args: list[Word]) -> None:
        if self._args(args, "") is not None:
            self._user = None
            self._state = State.NONAUTH
            self._out += R.ok()

    def _listscripts(self, args: list[Word]) -> None:
        if self._args(args, "") is not None:
            self._events.append(ListScripts(self._signed_in))

    def _one_name(self, args: list[Word]) -> str | None:
        values = self._args(args, "S")
        return None if values is None else self._name(values[0])

    def _getscript(self, args: list[Word]) -> None:
        if (name := self._one_name(args)) is not None:
            self._events.append(GetScript(self._signed_in, name))

    def _deletescript(self, args: list[Word]) -> None:
        if (name := self._one_name(args)) is not None:
            self._events.append(DeleteScript(self._signed_in, name))

    def _setactive(self, args: list[Word]) -> None:
        values = self._args(args, "S")
        if values is None:
            return
        if values[0] == b"":
            self._events.append(SetActive(self._signed_in, None))
        elif (name := self._name(values[0])) is not None:
            self._events.append(SetActive(self._signed_in, name))

    def _renamescript(self, args: list[Word]) -> None:
        values = self._args(args, "SS")
        if values is None:
            return
        old = self._name(values[0])
        new = None if old is None else self._name(values[1])
        if old is not None and new is not None:
            self._events.append(RenameScript(self._signed_in, old, new))

    def _putscript(self, args: list[Word]) -> None:
        values = self._args(args, "SS")
        if values is None:
            return
        name = self._name(values[0])
        source = None if name is None else self._script(values[1])
        if name is not None and source is not None:
            self._events.append(PutScript(self._signed_in, name, source,
                                          self.config.max_scripts))

    def _checkscript(self, args: list[Word]) -> None:
        values = self._args(args, "S")
        if values is not None and (source := self._script(values[0])) is not None:
            self._events.append(CheckScript(self._signed_in, source))

    def _havespace(self, args: list[Word]) -> None:
        values = self._args(args, "SN")
        if values is None or (name := self._name(values[0])) is None:
            return
        size = int(values[1])
        if size > self.config.max_script_size:
            self._out += R.no(f"Scripts are at most {self.config.max_script_size} octets",
                              "QUOTA/MAXSIZE")
            return
        self._events.append(HaveSpace(self._signed_in, name, size, self.config.max_scripts))


_Handler = Callable[[Session, list[Word]], None]
_COMMON: dict[str, _Handler] = {
    "CAPABILITY": Session._capability, "NOOP": Session._noop, "LOGOUT": Session._logout,
}
_NONAUTH: dict[str, _Handler] = {
    **_COMMON, "AUTHENTICATE": Session._authenticate, "STARTTLS": Session._starttls,
}
_AUTHENTICATED: dict[str, _Handler] = {
    **_COMMON, "UNAUTHENTICATE": Session._unauthenticate,
    "LISTSCRIPTS": Session._listscripts, "GETSCRIPT": Session._getscript,
    "PUTSCRIPT": Session._putscript, "CHECKSCRIPT": Session._checkscript,
    "HAVESPACE": Session._havespace, "DELETESCRIPT": Session._deletescript,
    "RENAMESCRIPT": Session._renamescript, "SETACTIVE": Session._setactive,
}
