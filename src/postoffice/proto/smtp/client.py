"""The sans-I/O SMTP client core (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN,
CHUNKING, STARTTLS, AUTH PLAIN/LOGIN, ENHANCEDSTATUSCODES), in the h11 style.

Theory of operation
-------------------
The peer's bytes go in with `receive_data()`; what to write comes out of `data_to_send()`;
`next_event()` says what happened and what the adapter must do next:

    SessionReady      greeting, EHLO (HELO after a 500/502), STARTTLS, AUTH are done
    UpgradeTls        220 to STARTTLS: do the handshake, then tls_started() (or fail())
    ContentWanted     send_content(chunk) or end_content()
    TransactionDone   every recipient of the message has its outcome
    SessionClosed     the session is over (after our QUIT, a 421, a failure)
    NEED_DATA         waiting for the peer's reply
    IDLE              nothing to do: start_transaction(), quit()

Every command we send appends what it expects to ONE queue (`_expect`); each reply the peer
sends is matched to the head of that queue, so PIPELINING is the same code as lock-step: with
it MAIL, every RCPT and DATA go out together, without it one command per reply. A transaction
(`_Txn`) records the replies; when all of its sent commands are answered, `_advance()` decides
the next step from them (DATA, content, RSET next time, or the end). Replies arrive only when
something is expected: bytes during DATA content or while idle wait in the buffer, so how the
peer's bytes are split never changes the outcome.

Outcomes: a refused RCPT decides that recipient; a refused MAIL decides all; the reply to the
content (or a refused DATA/BDAT) decides every accepted recipient; a failure that ends the
session (421, EOF, timeout or TLS failure reported with fail()) decides whoever is left.

Typical adapter loop:
    conn = ClientConnection(ClientConfig(helo_name="out.example.org"))
    while True:
        event = conn.next_event()
        write(conn.data_to_send())
        if event is NEED_DATA: conn.receive_data(await read())   # or receive_eof()
        elif isinstance(event, SessionReady): conn.start_transaction(envelope, traits)
        elif isinstance(event, ContentWanted): conn.send_content(chunk) / conn.end_content()
        elif isinstance(event, UpgradeTls): await handshake(); conn.tls_started()
        elif isinstance(event, TransactionDone): record(event.result); conn.quit()
        elif isinstance(event, SessionClosed): close(); break
"""

from __future__ import annotations

import base64
from collections import deque
from enum import Enum

from postoffice.message.envelope import Envelope
from postoffice.proto.smtp.client_config import ClientConfig, TlsMode
from postoffice.proto.smtp.client_content import ContentTraits, DotEncoder, LineEnds
from postoffice.proto.smtp.client_events import (
    IDLE,
    ClientEvent,
    ContentWanted,
    Extensions,
    Idle,
    SessionClosed,
    SessionReady,
    TransactionDone,
    UpgradeTls,
)
from postoffice.proto.smtp.client_replies import PeerError, remote_failure, take_reply
from postoffice.proto.smtp.client_results import SessionFailure, Stage
from postoffice.proto.smtp.client_transaction import (
    TRANSACTION_REPLIES,
    Awaiting,
    Command,
    Transaction,
)
from postoffice.proto.smtp.events import NEED_DATA, NeedData
from postoffice.proto.smtp.reply import Reply

__all__ = ["ClientConfig", "ClientConnection", "ClientState", "LocalProtocolError", "TlsMode"]

CONTENT_WANTED = ContentWanted()


class LocalProtocolError(RuntimeError):
    """The adapter used the core wrongly (a transaction while one is running ...)."""


class ClientState(Enum):
    GREETING = "greeting"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    TLS = "tls"
    """The adapter is doing the TLS handshake."""
    AUTH = "auth"
    READY = "ready"
    """Idle between transactions."""
    ENVELOPE = "envelope"
    """RSET/MAIL/RCPT/DATA sent, replies pending."""
    CONTENT = "content"
    """Sending content (after 354, or BDAT chunks)."""
    FINAL = "final"
    """Content complete; waiting for the final reply."""
    QUIT = "quit"
    CLOSED = "closed"


_STAGE_OF_STATE: dict[ClientState, Stage] = {
    ClientState.GREETING: "greeting",
    ClientState.EHLO: "ehlo",
    ClientState.HELO: "ehlo",
    ClientState.STARTTLS: "starttls",
    ClientState.TLS: "tls",
    ClientState.AUTH: "auth",
    ClientState.READY: "idle",
    ClientState.CONTENT: "content",
    ClientState.FINAL: "final",
    ClientState.QUIT: "quit",
    ClientState.CLOSED: "idle",
}
_STAGE_OF_REPLY: dict[Awaiting, Stage] = {
    Awaiting.RSET: "rset",
    Awaiting.MAIL: "mail",
    Awaiting.RCPT: "rcpt",
    Awaiting.DATA: "data",
    Awaiting.DISCARD: "data",
}


class ClientConnection:
    """One SMTP client session, without I/O. See the module docstring."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._state = ClientState.GREETING
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[ClientEvent] = deque()
        self._expect: deque[tuple[Awaiting, int]] = deque([(Awaiting.GREETING, 0)])
        self._eof: str | None = None
        self._secure = False
        self._tls_declined = False
        self._ext = Extensions()
        self._authenticated = False
        self._auth_mechanism = ""
        self._auth_step = 0
        self._txn: Transaction | None = None
        self._needs_rset = False
        self._closing: SessionFailure | None = None
        self._closed: SessionClosed | None = None

    # -- properties ------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        return self._state

    @property
    def extensions(self) -> Extensions:
        """The peer's extensions (from the latest EHLO)."""
        return self._ext

    @property
    def secure(self) -> bool:
        """True once tls_started() was called."""
        return self._secure

    @property
    def authenticated(self) -> bool:
        return self._authenticated

    @property
    def stage(self) -> Stage:
        """What we are waiting for (the adapter picks its timeout by it)."""
        if self._state is ClientState.ENVELOPE:
            return _STAGE_OF_REPLY.get(self._expect[0][0], "mail") if self._expect else "mail"
        return _STAGE_OF_STATE[self._state]

    # -- the adapter's side ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer (ignored while a TLS handshake is due and once closed)."""
        if self._state not in (ClientState.TLS, ClientState.CLOSED) and self._eof is None:
            self._buf += data

    def receive_eof(self, detail: str = "connection closed by peer") -> None:
        """The peer closed the connection (or it broke: say how in `detail`)."""
        if self._eof is None:
            self._eof = detail

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> ClientEvent | NeedData | Idle:
        while True:
            if self._events:
                return self._events.popleft()
            if self._closed is not None:
                return self._closed
            if self._state is ClientState.TLS:
                return IDLE
            if self._expect:
                try:
                    reply = self._take_reply()
                except PeerError as exc:
                    self._fail(self._local(421, "4.5.0", f"protocol error: {exc}"), quit=False)
                    continue
                if reply is not None:
                    self._on_reply(reply)
                    continue
            if self._eof is not None:
                self._on_eof()
                continue
            if self._state is ClientState.CONTENT and self._content_ready():
                return CONTENT_WANTED
            if self._state is ClientState.READY:
                return IDLE
            return NEED_DATA

    def tls_started(self) -> None:
        """The handshake after UpgradeTls succeeded: start over with EHLO (RFC 3207 4.2)."""
        if self._state is not ClientState.TLS:
            raise LocalProtocolError("tls_started() without UpgradeTls")
        self._buf.clear()
        self._secure = True
        self._ext = Extensions()
        self._command(f"EHLO {self.config.helo_name}", Awaiting.EHLO)
        self._state = ClientState.EHLO

    def fail(self, failure: SessionFailure) -> None:
        """Something the core cannot see ended the session (timeout, connection lost, TLS
        handshake failed): decide the running transaction with it and close."""
        self._fail(failure, quit=False)

    def quit(self) -> None:
        """Say QUIT; SessionClosed(None) follows the reply (or EOF)."""
        if self._state is ClientState.CLOSED:
            return
        if self._state is not ClientState.READY:
            raise LocalProtocolError(f"quit() in state {self._state.name}")
        self._command("QUIT", Awaiting.QUIT)
        self._state = ClientState.QUIT

    def start_transaction(self, envelope: Envelope, traits: ContentTraits | None = None) -> None:
        """Send one message's envelope. `traits` describe the content (ContentTraits.of);
        without them the envelope's body/smtputf8/size_hint stand in."""
        if self._state is not ClientState.READY or self._txn is not None:
            raise LocalProtocolError(f"start_transaction() in state {self._state.name}")
        if traits is None:
            eight_bit = envelope.body.upper() == "8BITMIME" or envelope.smtputf8
            traits = ContentTraits(envelope.size_hint, eight_bit, envelope.smtputf8)
        ext = self._ext
        txn = Transaction.start(envelope, bdat=self.config.chunking and ext.chunking)
        self._txn = txn
        verdict = txn.local_verdict(ext, traits)
        if verdict is not None:
            txn.mail = verdict.reply
            self._finish(None, stage="local", remote=False, reason=verdict.reason)
            return
        commands: list[Command] = []
        if self._needs_rset:
            commands.append((b"RSET", Awaiting.RSET, 0))
        commands += txn.envelope_commands(ext, traits)
        self._state = ClientState.ENVELOPE
        if self.config.pipelining and ext.pipelining:
            if not txn.bdat:
                commands.append((b"DATA", Awaiting.DATA, 0))
            for command in commands:
                self._txn_command(*command)
        else:
            txn.pending.extend(commands)
            self._send_pending()

    def send_content(self, data: bytes) -> None:
        """The next piece of content, as stored (any line ends; no dot-stuffing needed)."""
        txn = self._content_txn()
        if txn is None or not data:
            return
        if txn.encoder is not None:
            self._out += txn.encoder.feed(data)
            return
        assert txn.lines is not None
        piece = txn.lines.feed(data)
        if piece:
            if txn.held is not None:
                self._send_bdat(txn, txn.held, last=False)
            txn.held = piece

    def end_content(self) -> None:
        """The content is complete: send the terminator (or the last BDAT chunk)."""
        txn = self._content_txn()
        if txn is None:
            return
        txn.ended = True
        self._state = ClientState.FINAL
        if txn.encoder is not None:
            self._out += txn.encoder.finish()
            self._expect.append((Awaiting.FINAL, 0))
            txn.outstanding += 1
        else:
            assert txn.lines is not None
            self._send_bdat(txn, (txn.held or b"") + txn.lines.finish(), last=True)
            txn.held = None

    # -- transactions ----------------------------------------------------------------------

    def _txn_command(self, line: bytes, what: Awaiting, index: int) -> None:
        assert self._txn is not None
        self._out += line + b"\r\n"
        self._expect.append((what, index))
        self._txn.outstanding += 1

    def _send_pending(self) -> None:
        txn = self._txn
        assert txn is not None
        if txn.mail_refused:
            txn.pending.clear()
        if txn.pending:
            self._txn_command(*txn.pending.popleft())

    def _send_bdat(self, txn: Transaction, chunk: bytes, *, last: bool) -> None:
        head = f"BDAT {len(chunk)} LAST\r\n" if last else f"BDAT {len(chunk)}\r\n"
        self._out += head.encode() + chunk
        self._expect.append((Awaiting.FINAL if last else Awaiting.BDAT, 0))
        txn.outstanding += 1

    def _content_txn(self) -> Transaction | None:
        """The transaction content may go to; None when it was refused meanwhile."""
        txn = self._txn
        if self._state is not ClientState.CONTENT or txn is None or txn.ended:
            raise LocalProtocolError(f"content in state {self._state.name}")
        return None if txn.decided is not None else txn

    def _content_ready(self) -> bool:
        txn = self._txn
        if txn is None or txn.ended or txn.decided is not None:
            return False
        if not txn.bdat:
            return True
        window = self.config.bdat_window if self.config.pipelining and self._ext.pipelining else 1
        return txn.outstanding < window

    def _on_txn_reply(self, what: Awaiting, index: int, reply: Reply) -> None:
        txn = self._txn
        assert txn is not None
        txn.outstanding -= 1
        if what is Awaiting.RSET:
            if not reply.positive:
                self._fail(remote_failure(reply, "rset"), quit=True)
                return
            self._needs_rset = False
        txn.record(what, index, reply)
        if what is Awaiting.DATA and reply.code == 354:
            if not txn.accepted or txn.mail_refused:
                self._txn_command(b".", Awaiting.DISCARD, 0)  # RFC 2920 3.1: an empty message
        self._advance()

    def _advance(self) -> None:
        """All sent commands of the transaction are answered: decide the next step."""
        txn = self._txn
        if txn is None:
            return
        if txn.outstanding == 0 and txn.pending:
            self._send_pending()
        if txn.outstanding:
            return
        state = self._state
        if state is ClientState.ENVELOPE:
            if txn.mail is None or txn.mail_refused:
                self._finish(None)
            elif not txn.accepted:
                self._needs_rset = True
                self._finish(None)
            elif txn.bdat:
                txn.lines = LineEnds()
                self._state = ClientState.CONTENT
            elif txn.data is None:
                self._txn_command(b"DATA", Awaiting.DATA, 0)
            elif txn.data.code == 354:
                txn.encoder = DotEncoder()
                self._state = ClientState.CONTENT
            else:
                txn.decided, txn.decided_stage = txn.data, "data"
                self._needs_rset = True
                self._finish(None)
        elif state is ClientState.FINAL or txn.decided is not None:
            if txn.decided is None or txn.decided_stage != "final":
                self._needs_rset = True
            self._finish(None)

    def _finish(
        self, failure: SessionFailure | None, *, stage: Stage = "mail", remote: bool = True,
        reason: str = "",
    ) -> None:
        txn = self._txn
        assert txn is not None
        self._txn = None
        result = txn.result(failure, stage=stage, remote=remote, reason=reason)
        self._events.append(TransactionDone(result))
        if self._state in (ClientState.ENVELOPE, ClientState.CONTENT, ClientState.FINAL):
            self._state = ClientState.READY

    # -- session setup ---------------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> None:
        what, index = self._expect.popleft()
        if what is Awaiting.QUIT:
            self._close(self._closing)
            return
        stage = _STAGE_OF_REPLY.get(what) or self.stage
        if reply.code == 421:  # the peer is closing the channel (RFC 5321 3.8)
            self._fail(remote_failure(reply, stage), quit=False)
        elif what in TRANSACTION_REPLIES:
            self._on_txn_reply(what, index, reply)
        elif what is Awaiting.GREETING:
            if reply.code == 220:
                self._command(f"EHLO {self.config.helo_name}", Awaiting.EHLO)
                self._state = ClientState.EHLO
            else:
                self._fail(remote_failure(reply, "greeting"), quit=True)
        elif what is Awaiting.EHLO:
            if reply.code == 250:
                self._ext = Extensions.parse(reply)
                self._after_hello()
            elif reply.code in (500, 502):
                self._command(f"HELO {self.config.helo_name}", Awaiting.HELO)
                self._state = ClientState.HELO
            else:
                self._fail(remote_failure(reply, "ehlo"), quit=True)
        elif what is Awaiting.HELO:
            if reply.code == 250:
                self._ext = Extensions.helo(reply)
                self._after_hello()
            else:
                self._fail(remote_failure(reply, "ehlo"), quit=True)
        elif what is Awaiting.STARTTLS:
            if reply.code == 220:
                self._buf.clear()  # never act on bytes that preceded the handshake
                self._state = ClientState.TLS
                self._events.append(UpgradeTls())
            elif self.config.tls == "opportunistic":
                self._tls_declined = True
                self._after_hello()
            else:
                self._fail(remote_failure(reply, "starttls", soft=True), quit=True)
        elif what is Awaiting.AUTH:
            self._on_auth(reply)

    def _after_hello(self) -> None:
        mode = self.config.tls
        if not self._secure and mode != "none" and not self._tls_declined:
            if self._ext.starttls:
                self._command("STARTTLS", Awaiting.STARTTLS)
                self._state = ClientState.STARTTLS
                return
            if mode != "opportunistic":
                why = "TLS required but STARTTLS not offered by the peer"
                self._fail(self._local(451, "4.7.10", why, "starttls"), quit=True)
                return
        if self.config.auth is not None and not self._authenticated:
            self._start_auth()
            return
        self._state = ClientState.READY
        self._events.append(SessionReady(self._ext))

    def _start_auth(self) -> None:
        if self.config.auth_requires_tls and not self._secure:
            why = "AUTH configured but TLS is not up; not sending the password in clear"
            self._fail(self._local(451, "4.7.10", why, "auth"), quit=True)
            return
        offered = self._ext.auth
        usable = [m.upper() for m in self.config.auth_mechanisms if m.upper() in offered]
        if not usable:
            why = f"peer offers no usable AUTH mechanism (offered: {' '.join(offered) or 'none'})"
            self._fail(self._local(451, "4.7.0", why, "auth"), quit=True)
            return
        self._auth_mechanism, self._auth_step = usable[0], 0
        self._state = ClientState.AUTH
        if usable[0] == "PLAIN":
            self._command(f"AUTH PLAIN {self._plain()}", Awaiting.AUTH)
        else:
            self._command("AUTH LOGIN", Awaiting.AUTH)

    def _plain(self) -> str:
        assert self.config.auth is not None
        user, password = self.config.auth
        return base64.b64encode(f"\0{user}\0{password}".encode()).decode()

    def _on_auth(self, reply: Reply) -> None:
        assert self.config.auth is not None
        if reply.code == 235:
            self._authenticated = True
            self._after_hello()
            return
        if reply.code != 334:
            # Like Postfix's smtp_sasl_auth_soft_bounce: bad credentials are our configuration
            # problem, so the mail waits instead of bouncing.
            self._fail(remote_failure(reply, "auth", soft=True), quit=True)
            return
        step, self._auth_step = self._auth_step, self._auth_step + 1
        user, password = self.config.auth
        if self._auth_mechanism == "PLAIN" and step == 0:
            answer = self._plain()  # the peer ignored the initial response
        elif self._auth_mechanism == "LOGIN" and step < 2:
            answer = base64.b64encode((user if step == 0 else password).encode()).decode()
        else:
            answer = "*"
        self._command(answer, Awaiting.AUTH)

    # -- plumbing --------------------------------------------------------------------------

    def _command(self, line: str, what: Awaiting) -> None:
        self._out += line.encode() + b"\r\n"
        self._expect.append((what, 0))

    def _local(self, code: int, status: str, reason: str, stage: Stage | None = None) -> SessionFailure:
        return SessionFailure.local(code, status, reason, stage or self.stage)

    def _fail(self, failure: SessionFailure, quit: bool) -> None:
        if self._state is ClientState.CLOSED:
            return
        if self._state is ClientState.QUIT:
            self._close(self._closing)
            return
        if self._txn is not None:
            self._finish(failure)
        self._expect.clear()
        if quit and self._eof is None:
            self._closing = failure
            self._command("QUIT", Awaiting.QUIT)
            self._state = ClientState.QUIT
        else:
            self._close(failure)

    def _close(self, failure: SessionFailure | None) -> None:
        self._state = ClientState.CLOSED
        self._expect.clear()
        self._buf.clear()
        self._closed = SessionClosed(failure)
        self._events.append(self._closed)

    def _on_eof(self) -> None:
        detail = self._eof or "connection closed by peer"
        if self._state is ClientState.QUIT:
            self._close(self._closing)
            return
        stage = self.stage
        try:
            reply = self._take_reply()  # e.g. a 421/554 sent during DATA content, then EOF
        except PeerError:
            reply = None
        if reply is not None and not reply.positive:
            self._fail(remote_failure(reply, stage), quit=False)
        else:
            self._fail(self._local(421, "4.4.2", f"{detail} (during {stage})"), quit=False)

    def _take_reply(self) -> Reply | None:
        return take_reply(self._buf, self.config.max_reply_line, self.config.max_reply_lines)
