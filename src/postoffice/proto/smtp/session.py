"""The state of one SMTP server session and the commands that change it.

`ServerConnection` (server.py) frames the byte stream and talks to the adapter; this base
class holds what the session knows and gives each command line its meaning: it answers what
it can alone (into the output) and queues events for the rest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from postoffice.proto import sasl
from postoffice.proto.smtp import grammar
from postoffice.proto.smtp import replies as R
from postoffice.proto.smtp.config import ServerConfig
from postoffice.proto.smtp.data import ChunkDecoder, DotDecoder
from postoffice.proto.smtp.events import (
    AuthCredentials,
    Closed,
    DataRejected,
    DataStart,
    Event,
    Hello,
    MailFrom,
    RcptTo,
    Reset,
    StartTls,
    Verify,
)
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.states import State


class Session:
    """Session and transaction state, the output buffer, the event queue, the commands."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._state = State.GREETING
        self._secure = config.secure
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._closed: Closed | None = None
        self._eof = False
        self._errors = 0
        self._skip_line = False  # dropping the rest of an overlong line
        self._discard = 0  # octets of a refused BDAT still to drop
        self._after_discard: Reply | None = None
        self._helo: str | None = None
        self._esmtp = False
        self._auth_identity: str | None = None
        self._sasl: sasl.Mechanism | None = None
        self._reset_transaction()

    def _reset_transaction(self) -> None:
        self._mail: MailFrom | None = None
        self._rcpts = 0
        self._chunking = False  # BDAT used in this transaction
        self._dot: DotDecoder | None = None
        self._chunk: ChunkDecoder | None = None
        self._bdat_left = 0
        self._bdat_size = 0
        self._bdat_last = False
        self._bdat_raw = 0

    # -- replies given by the core ---------------------------------------------------------

    def _answer(self, reply: Reply) -> None:
        self._out += reply.render()

    def _refuse(self, reply: Reply) -> None:
        """A syntax or sequence error: counts towards max_errors."""
        self._out += reply.render()
        self._errors += 1
        if self._errors >= self.config.max_errors and self._state is not State.CLOSED:
            self._out += R.TOO_MANY_ERRORS.render()
            self._close("too-many-errors")

    def _close(self, reason: str) -> None:
        self._state = State.CLOSED
        self._buf.clear()
        self._closed = Closed(reason)
        self._events.append(self._closed)

    def _reject_content(self, reason: str) -> None:
        self._answer(R.BARE_NEWLINE if reason == "bare-newline" else R.TOO_LARGE)
        self._events.append(DataRejected(reason))
        self._reset_transaction()
        self._state = State.READY

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _discard_done(self) -> None:
        """A refused BDAT chunk has been skipped: now give its reply."""
        reply, self._after_discard = self._after_discard, None
        if reply is not None:
            self._refuse(reply)

    def _command(self, line: bytes) -> None:
        """One complete command line, without its line end."""
        if self._state is State.AUTH:
            self._auth_response(line)
            return
        try:
            command = grammar.parse_command(line)
        except grammar.GrammarError as exc:
            self._refuse(exc.reply)
            return
        handler = _HANDLERS.get(command.verb)
        if handler is None:
            self._refuse(R.NOT_IMPLEMENTED if command.verb in _NOT_IMPLEMENTED else R.UNKNOWN)
        else:
            handler(self, command.argument)

    # -- commands --------------------------------------------------------------------------

    def _greeted(self) -> bool:
        if self._state is State.INITIAL:
            self._refuse(R.SEND_EHLO_FIRST)
            return False
        return True

    def _cmd_hello(self, verb: str, argument: str) -> None:
        if not argument:
            self._refuse(Reply(501, "5.5.4", f"Syntax: {verb} hostname"))
            return
        if self._state in (State.MAIL, State.RCPT):
            self._reset_transaction()
            self._state = State.READY
            self._emit(Reset())
        self._emit(Hello(verb, argument))

    def _cmd_ehlo(self, argument: str) -> None:
        self._cmd_hello("EHLO", argument)

    def _cmd_helo(self, argument: str) -> None:
        self._cmd_hello("HELO", argument)

    def _cmd_noop(self, argument: str) -> None:
        self._answer(R.OK)

    def _cmd_help(self, argument: str) -> None:
        self._answer(R.HELP)

    def _cmd_quit(self, argument: str) -> None:
        self._answer(R.BYE)
        self._close("quit")

    def _cmd_rset(self, argument: str) -> None:
        if argument:
            self._refuse(Reply(501, "5.5.4", "Syntax: RSET"))
            return
        self._reset_transaction()
        if self._state is not State.INITIAL:
            self._state = State.READY
        self._answer(R.OK)
        self._emit(Reset())

    def _cmd_vrfy(self, argument: str) -> None:
        # RFC 5321 4.1.4: VRFY may be used without initialising the session with EHLO.
        if not argument:
            self._refuse(Reply(501, "5.5.4", "Syntax: VRFY address"))
        elif not self.config.vrfy_enabled:
            self._answer(R.VRFY_DISABLED)
        else:
            self._emit(Verify(argument))

    def _cmd_starttls(self, argument: str) -> None:
        if not self._greeted():
            return
        if argument:
            self._refuse(Reply(501, "5.5.4", "Syntax: STARTTLS"))
        elif self._secure:
            self._refuse(R.TLS_ACTIVE)
        elif not self.config.tls_available:
            self._refuse(R.NOT_IMPLEMENTED)
        elif self._state is not State.READY:
            self._refuse(R.IN_TRANSACTION)
        else:
            self._emit(StartTls())

    def _cmd_auth(self, argument: str) -> None:
        c = self.config
        if not self._greeted():
            return
        if self._state is not State.READY:
            self._refuse(R.IN_TRANSACTION)
        elif self._auth_identity is not None:
            self._refuse(R.ALREADY_AUTHENTICATED)
        elif not c.auth_mechanisms:
            self._refuse(R.NOT_IMPLEMENTED)
        elif c.auth_requires_tls and not self._secure:
            self._refuse(R.ENCRYPTION_REQUIRED)
        else:
            words = argument.split(" ")
            if not argument or len(words) > 2:
                self._refuse(Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"))
                return
            name = words[0].upper()
            if name not in (m.upper() for m in c.auth_mechanisms):
                self._refuse(R.UNKNOWN_MECHANISM)
                return
            mechanism = sasl.new_mechanism(name)
            initial = None
            if len(words) == 2:
                try:
                    initial = b"" if words[1] == "=" else sasl.decode_response(words[1].encode())
                except sasl.SaslError:
                    self._refuse(R.BAD_BASE64)
                    return
            self._sasl = mechanism
            self._state = State.AUTH
            self._sasl_step(lambda: mechanism.start(initial))

    def _auth_response(self, line: bytes) -> None:
        line = line.strip()
        if line == b"*":
            self._state, self._sasl = State.READY, None
            self._refuse(R.AUTH_CANCELLED)
            return
        try:
            data = sasl.decode_response(line)
        except sasl.SaslError:
            self._state, self._sasl = State.READY, None
            self._refuse(R.BAD_BASE64)
            return
        mechanism = self._sasl
        assert mechanism is not None
        self._sasl_step(lambda: mechanism.respond(data))

    def _sasl_step(self, step: Callable[[], sasl.Step]) -> None:
        try:
            result = step()
        except sasl.SaslError:
            self._state, self._sasl = State.READY, None
            self._refuse(R.BAD_AUTH_DATA)
            return
        if isinstance(result, sasl.Challenge):
            self._out += b"334 " + sasl.encode_challenge(result.data) + b"\r\n"
            return
        self._sasl = None
        self._emit(
            AuthCredentials(result.mechanism, result.authzid, result.username, result.password)
        )

    def _cmd_mail(self, argument: str) -> None:
        c = self.config
        if not self._greeted():
            return
        if self._state is not State.READY:
            self._refuse(R.NESTED_MAIL)
            return
        if c.require_auth and self._auth_identity is None:
            self._refuse(R.AUTH_REQUIRED)
            return
        try:
            parsed = grammar.parse_mail(argument, esmtp=self._esmtp, smtputf8=c.smtputf8, dsn=c.dsn)
        except grammar.GrammarError as exc:
            self._refuse(exc.reply)
            return
        params = parsed.params
        if parsed.path.utf8 and "SMTPUTF8" not in params:
            self._refuse(R.UTF8_REQUIRED)
            return
        size = params.get("SIZE")
        if c.max_message_size and size is not None and int(size) > c.max_message_size:
            self._answer(R.TOO_LARGE)
            return
        self._emit(MailFrom(parsed.path.address, params))

    def _cmd_rcpt(self, argument: str) -> None:
        c = self.config
        if not self._greeted():
            return
        if self._state not in (State.MAIL, State.RCPT):
            self._refuse(R.NEED_MAIL)
            return
        if self._chunking:
            self._refuse(R.RCPT_AFTER_BDAT)
            return
        try:
            parsed = grammar.parse_rcpt(argument, esmtp=self._esmtp, dsn=c.dsn)
        except grammar.GrammarError as exc:
            self._refuse(exc.reply)
            return
        assert self._mail is not None
        if parsed.path.utf8 and "SMTPUTF8" not in self._mail.params:
            self._refuse(R.UTF8_REQUIRED)
        elif self._rcpts >= c.max_recipients:
            self._answer(R.TOO_MANY_RECIPIENTS)
        else:
            path = parsed.path
            self._emit(RcptTo(path.address, parsed.params, bool(path.source_route)))

    def _cmd_data(self, argument: str) -> None:
        if not self._greeted():
            return
        if argument:
            self._refuse(Reply(501, "5.5.4", "Syntax: DATA"))
        elif self._chunking:
            self._refuse(R.DATA_AFTER_BDAT)
        elif self._state is State.MAIL:
            self._refuse(R.NO_VALID_RECIPIENTS)
        elif self._state is not State.RCPT:
            self._refuse(R.NEED_MAIL)
        else:
            self._emit(DataStart())

    def _cmd_bdat(self, argument: str) -> None:
        c = self.config
        try:
            size, last = grammar.parse_bdat(argument)
        except grammar.GrammarError as exc:
            self._refuse(exc.reply)  # no size: nothing to skip, the rest reads as commands
            return
        refusal = None
        if not c.chunking:
            refusal = R.NOT_IMPLEMENTED
        elif self._state is State.INITIAL:
            refusal = R.SEND_EHLO_FIRST
        elif self._state is State.MAIL:
            refusal = R.NEED_RCPT
        elif self._state is not State.RCPT:
            refusal = R.NEED_MAIL
        if refusal is not None:  # keep the stream in sync: drop the chunk, then answer
            self._discard, self._after_discard = size, refusal
            if not size:
                self._discard_done()
            return
        if self._chunk is None:
            self._chunk = ChunkDecoder(c.max_message_size, c.bare_newline)
        self._chunking = True
        self._bdat_raw += size
        if c.max_message_size and self._bdat_raw > c.max_message_size:
            self._chunk.too_large = True
        self._bdat_left, self._bdat_size, self._bdat_last = size, size, last
        self._state = State.BDAT


_NOT_IMPLEMENTED: Final = frozenset({"EXPN", "TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML"})

_HANDLERS: Final[dict[str, Callable[[Session, str], None]]] = {
    "EHLO": Session._cmd_ehlo,
    "HELO": Session._cmd_helo,
    "NOOP": Session._cmd_noop,
    "HELP": Session._cmd_help,
    "QUIT": Session._cmd_quit,
    "RSET": Session._cmd_rset,
    "VRFY": Session._cmd_vrfy,
    "STARTTLS": Session._cmd_starttls,
    "AUTH": Session._cmd_auth,
    "MAIL": Session._cmd_mail,
    "RCPT": Session._cmd_rcpt,
    "DATA": Session._cmd_data,
    "BDAT": Session._cmd_bdat,
}
