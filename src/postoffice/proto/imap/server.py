"""The sans-I/O IMAP server connection: states, capabilities, literals, SASL, IDLE framing.

Bytes go in with `receive_data()`; `next_event()` returns the next thing the adapter must act
on, or NEED_DATA. The core answers by itself what needs no mailbox: CAPABILITY, LOGOUT, ID,
ENABLE, NOOP before login, STARTTLS/LOGIN refusals, literal continuations and their limits,
syntax errors, commands in the wrong state, and the SASL exchange. Everything touching
mail arrives as `Execute` and is answered by the adapter through `send()` (the mailbox
service formats the responses with proto/imap/responses.py).

Commands are handled one at a time: after an event that needs an answer, the next command
is read only once the adapter has answered it (`authenticated`, `send` + `done`, ...), so
responses leave in command order while clients pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from postoffice.proto import sasl
from postoffice.proto.imap import responses as r
from postoffice.proto.imap.commands import Authenticate, Command, Enable, Login
from postoffice.proto.imap.errors import ParseError, Severity
from postoffice.proto.imap.events import NEED_DATA, ClientLine, NeedContinuation, NeedData
from postoffice.proto.imap.parser import CommandParser


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


_ANY = {"CAPABILITY", "NOOP", "LOGOUT", "ID"}
_NOT_AUTHENTICATED = {"STARTTLS", "AUTHENTICATE", "LOGIN"}
_AUTHENTICATED = {"ENABLE", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
                  "UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE",
                  "GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "COMPRESS"}
_SELECTED = {"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY",
             "MOVE", "SORT", "THREAD"}
ENABLEABLE = ("IMAP4REV2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT")


@dataclass(frozen=True)
class ImapConfig:
    hostname: str = "localhost"
    tls_available: bool = False
    """STARTTLS can be offered (a certificate is configured)."""
    implicit_tls: bool = False
    """The connection is TLS from the start (the imaps listener)."""
    plaintext_auth: bool = False
    """Allow LOGIN/AUTHENTICATE without TLS (loopback development only)."""
    max_line: int = 64 * 1024
    max_literal: int = 64 * 1024 * 1024
    """APPENDLIMIT: the largest message literal."""
    max_literal_unauthenticated: int = 8192
    max_auth_failures: int = 3
    """Failed logins before the connection is closed."""
    extensions: tuple[str, ...] = (
        "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE",
        "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CONDSTORE", "QRESYNC",
        "ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES",
        "THREAD=ORDEREDSUBJECT", "ESORT", "BINARY", "STATUS=SIZE", "QUOTA", "QUOTA=RES-STORAGE",
        "UTF8=ACCEPT", "MULTIAPPEND", "COMPRESS=DEFLATE")


@dataclass(frozen=True)
class Execute:
    """A command for the mailbox service; answer with send() then done()."""

    command: Command


@dataclass(frozen=True)
class Credentials:
    """LOGIN or a completed AUTHENTICATE: verify, then authenticated(ok)."""

    tag: str
    username: str
    password: str = field(repr=False)
    authzid: str = ""


@dataclass(frozen=True)
class StartTls:
    """"OK Begin TLS" is queued: flush it, handshake, then tls_started()."""

    tag: str


@dataclass(frozen=True)
class Compress:
    """"OK DEFLATE active" is queued: flush it, then compress everything after it."""

    tag: str


@dataclass(frozen=True)
class IdleDone:
    """The client ended IDLE: answer the tag with done()."""

    tag: str


@dataclass(frozen=True)
class Closed:
    """The session is over (LOGOUT answered, fatal error or end of input): flush and close."""

    reason: str


Event = Execute | Credentials | StartTls | Compress | IdleDone | Closed | NeedData


class ImapConnection:
    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self.state = State.NOT_AUTHENTICATED
        self.tls = config.implicit_tls
        self.compressed = False
        self.enabled: set[str] = set()
        self.read_only = False
        self.username: str | None = None
        self.parser = CommandParser(max_line=config.max_line, max_literal=config.max_literal,
                                    max_literal_unauthenticated=config.max_literal_unauthenticated)
        self._out = bytearray()
        self._waiting: str | None = None
        """What the adapter must answer before the next command is read."""
        self._sasl: tuple[str, sasl.Mechanism] | None = None
        self._idle_tag: str | None = None
        self._failures = 0
        self._eof = False

    # -- the adapter's side ------------------------------------------------------------------

    def greet(self) -> None:
        self._out += r.untagged_status("OK", "postoffice IMAP ready",
                                       r.code("CAPABILITY", *self._capability_atoms()))

    def receive_data(self, data: bytes) -> None:
        self.parser.feed(data)

    def receive_eof(self) -> None:
        self._eof = True

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, data: bytes) -> None:
        """Responses the adapter (or the mailbox service) produced."""
        self._out += data

    def done(self) -> None:
        """The current Execute/IdleDone is answered: read the next command."""
        self._waiting = None

    @property
    def idling(self) -> bool:
        return self._idle_tag is not None

    def start_idle(self, tag: str) -> None:
        """The service accepted IDLE: the client's next line must be DONE."""
        self._out += r.continuation("idling")
        self._idle_tag = tag
        self.parser.expect_line()
        self._waiting = None

    def authenticated(self, tag: str, ok: bool, username: str = "", *,
                      temporary: bool = False) -> None:
        if ok:
            self.state = State.AUTHENTICATED
            self.username = username
            self.parser.authenticated = True
            self._out += r.tagged(tag, "OK", "Logged in",
                                  r.code("CAPABILITY", *self._capability_atoms()))
        elif temporary:
            self._out += r.tagged(tag, "NO", "Temporary authentication failure, try later",
                                  "[UNAVAILABLE]")
        else:
            self._failures += 1
            self._out += r.tagged(tag, "NO", "Authentication failed", "[AUTHENTICATIONFAILED]")
            if self._failures >= self.config.max_auth_failures:
                self._out += r.untagged_status("BYE", "Too many failed logins")
                self.state = State.LOGOUT
        self._waiting = None

    def tls_started(self) -> None:
        self.tls = True
        self._waiting = None

    def selected(self, read_only: bool) -> None:
        self.state = State.SELECTED
        self.read_only = read_only

    def unselected(self) -> None:
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    @property
    def utf8(self) -> bool:
        """Mailbox names and strings may be UTF-8 (IMAP4rev2 or UTF8=ACCEPT enabled)."""
        return bool(self.enabled & {"IMAP4REV2", "UTF8=ACCEPT"})

    def capabilities(self) -> list[str]:
        return [a.text for a in self._capability_atoms()]

    # -- reading -------------------------------------------------------------------------------

    def next_event(self) -> Event:
        while True:
            if self.state is State.LOGOUT:
                return Closed("logout")
            if self._waiting is not None:
                return NEED_DATA
            event = self.parser.next_event()
            if event is NEED_DATA or isinstance(event, NeedData):
                if self._eof:
                    self.state = State.LOGOUT
                    return Closed("eof")
                return NEED_DATA
            if isinstance(event, NeedContinuation):
                self._out += r.continuation("Ready for literal data")
                self.parser.continue_literal()
                continue
            if isinstance(event, ParseError):
                if self._parse_error(event):
                    return Closed("protocol error")
                continue
            if isinstance(event, ClientLine):
                answer = self._line(event)
                if answer is not None:
                    return answer
                continue
            answer = self._command(event)
            if answer is not None:
                return answer

    def _parse_error(self, error: ParseError) -> bool:
        if error.severity is Severity.FATAL:
            self._out += r.untagged_status("BYE", error.text.capitalize())
            self.state = State.LOGOUT
            return True
        if self._idle_tag is not None:  # anything but DONE while idling
            self._out += r.untagged_status("BAD", "Expected DONE")
            self.parser.expect_line()
            return False
        if error.severity is Severity.NO and error.tag is not None:
            self._out += r.tagged(error.tag, "NO", error.text.capitalize(), error.code)
            return False
        if error.severity is Severity.TOOBIG:
            self._out += r.tagged(error.tag or "*", "NO", "Literal too big", "[TOOBIG]")
            return False
        if error.tag is None:
            self._out += r.untagged_status("BAD", "Syntax error: " + error.text)
        else:
            self._out += r.tagged(error.tag, "BAD", "Syntax error: " + error.text)
        return False

    def _line(self, line: ClientLine) -> Event | None:
        if self._idle_tag is not None:
            if not line.is_done:
                self._out += r.untagged_status("BAD", "Expected DONE")
                self.parser.expect_line()
                return None
            tag, self._idle_tag = self._idle_tag, None
            self._waiting = "idle"
            return IdleDone(tag)
        assert self._sasl is not None
        tag, mechanism = self._sasl
        self._sasl = None
        if line.is_cancel:
            self._out += r.tagged(tag, "BAD", "Authentication cancelled")
            return None
        try:
            return self._sasl_step(tag, mechanism, mechanism.respond(
                sasl.decode_response(line.data)))
        except sasl.SaslError as exc:
            self._out += r.tagged(tag, "BAD", f"Bad SASL response: {exc}")
            return None

    def _sasl_step(self, tag: str, mechanism: sasl.Mechanism, step: sasl.Step) -> Event | None:
        if isinstance(step, sasl.Challenge):
            self._out += b"+ " + sasl.encode_challenge(step.data) + b"\r\n"
            self._sasl = (tag, mechanism)
            self.parser.expect_line()
            return None
        self._waiting = "auth"
        return Credentials(tag, step.username, step.password, step.authzid)

    # -- commands ------------------------------------------------------------------------------

    def _command(self, command: Command) -> Event | None:
        name, tag = command.name, command.tag
        if not self._valid_in_state(name):
            self._out += r.tagged(tag, "BAD", f"{name} is not valid in the "
                                  f"{self.state.value} state")
            return None
        if name == "CAPABILITY":
            self._out += r.untagged(r.Atom("CAPABILITY"), *self._capability_atoms())
            self._out += r.tagged(tag, "OK", "Capability completed")
        elif name == "LOGOUT":
            self._out += r.untagged_status("BYE", "Logging out")
            self._out += r.tagged(tag, "OK", "Logout completed")
            self.state = State.LOGOUT
            return Closed("logout")
        elif name == "NOOP" and self.state is State.NOT_AUTHENTICATED:
            self._out += r.tagged(tag, "OK", "NOOP completed")
        elif name == "ID":
            self._out += r.untagged(r.Atom("ID"), (r.Atom('"name"'), "postoffice"))
            self._out += r.tagged(tag, "OK", "ID completed")
        elif name == "STARTTLS":
            if self.tls or not self.config.tls_available:
                self._out += r.tagged(tag, "BAD", "TLS is not available here"
                                      if not self.tls else "TLS is active already")
                return None
            self._out += r.tagged(tag, "OK", "Begin TLS negotiation now")
            self._waiting = "tls"
            return StartTls(tag)
        elif name in ("LOGIN", "AUTHENTICATE"):
            return self._login(command)
        elif name == "ENABLE":
            self._enable(command)
        elif name == "COMPRESS":
            return self._compress(command)
        else:
            self._waiting = "execute"
            return Execute(command)
        return None

    def _valid_in_state(self, name: str) -> bool:
        if name in _ANY:
            return True
        if self.state is State.NOT_AUTHENTICATED:
            return name in _NOT_AUTHENTICATED
        if name in _AUTHENTICATED:
            return True
        return self.state is State.SELECTED and name in _SELECTED

    def _login(self, command: Command) -> Event | None:
        tag = command.tag
        if not (self.tls or self.config.plaintext_auth):
            self._out += r.tagged(tag, "NO", "Use STARTTLS first", "[PRIVACYREQUIRED]")
            return None
        args = command.arguments
        if isinstance(args, Login):
            self._waiting = "auth"
            return Credentials(tag, args.username, args.password)
        assert isinstance(args, Authenticate)
        try:
            mechanism = sasl.new_mechanism(args.mechanism)
        except KeyError:
            self._out += r.tagged(tag, "NO", f"Unsupported mechanism {args.mechanism}",
                                  "[CANNOT]")
            return None
        try:
            return self._sasl_step(tag, mechanism, mechanism.start(args.initial_response))
        except sasl.SaslError as exc:
            self._out += r.tagged(tag, "BAD", f"Bad SASL response: {exc}")
            return None

    def _enable(self, command: Command) -> None:
        assert isinstance(command.arguments, Enable)
        newly = []
        for name in command.arguments.capabilities:
            if name in ENABLEABLE and name not in self.enabled:
                if name in {"CONDSTORE", "QRESYNC"} - self._advertised():
                    continue
                self.enabled.add(name)
                newly.append(name)
                if name == "QRESYNC":  # QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
                    self.enabled.add("CONDSTORE")
        self.parser.utf8 = self.utf8
        self._out += r.untagged(r.Atom("ENABLED"), *(r.Atom(n) for n in newly))
        self._out += r.tagged(command.tag, "OK", "Enabled")

    def _compress(self, command: Command) -> Event | None:
        tag = command.tag
        mechanism = getattr(command.arguments, "mechanism", "")
        if "COMPRESS=DEFLATE" not in self._advertised() or mechanism != "DEFLATE":
            self._out += r.tagged(tag, "NO", "Unknown compression mechanism", "[CANNOT]")
            return None
        if self.compressed:
            self._out += r.tagged(tag, "NO", "Compression is active already",
                                  "[COMPRESSIONACTIVE]")
            return None
        self._out += r.tagged(tag, "OK", "DEFLATE active")
        self.compressed = True
        return Compress(tag)

    # -- capabilities --------------------------------------------------------------------------

    def _advertised(self) -> set[str]:
        return {a.text for a in self._capability_atoms()}

    def _capability_atoms(self) -> list[r.Atom]:
        names = ["IMAP4rev1", "IMAP4rev2", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"]
        if self.state is State.NOT_AUTHENTICATED:
            if self.config.tls_available and not self.tls:
                names.append("STARTTLS")
            if self.tls or self.config.plaintext_auth:
                names.append("AUTH=PLAIN")
            else:
                names.append("LOGINDISABLED")
        else:
            names += [n for n in self.config.extensions if n not in names]
            names.append(f"APPENDLIMIT={self.config.max_literal}")
            if self.compressed:
                names.remove("COMPRESS=DEFLATE")
        return [r.Atom(n) for n in names]
