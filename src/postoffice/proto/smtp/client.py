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
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from postoffice.message.envelope import Envelope, Recipient
from postoffice.proto.smtp import grammar
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
from postoffice.proto.smtp.client_results import (
    RecipientOutcome,
    SessionFailure,
    Stage,
    TransactionResult,
    kind_of,
)
from postoffice.proto.smtp.events import NEED_DATA, NeedData
from postoffice.proto.smtp.reply import Reply

__all__ = ["ClientConfig", "ClientConnection", "ClientState", "LocalProtocolError", "TlsMode"]

TlsMode = Literal["none", "opportunistic", "required", "verify"]
"""none: never STARTTLS; opportunistic: when offered; required/verify: fail without it
("verify" also checks the certificate, which is the adapter's business)."""

CONTENT_WANTED = ContentWanted()


class LocalProtocolError(RuntimeError):
    """The adapter used the core wrongly (a transaction while one is running ...)."""


@dataclass(frozen=True)
class ClientConfig:
    """How one client session behaves."""

    helo_name: str
    """Our name for EHLO/HELO."""
    tls: TlsMode = "opportunistic"
    auth: tuple[str, str] | None = field(default=None, repr=False)
    """(username, password) for AUTH (smarthosts); None: no AUTH."""
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    """Mechanisms we may use, in order of preference."""
    auth_requires_tls: bool = True
    """Never send a password before TLS is up (the session fails with 4.7.10 instead)."""
    pipelining: bool = True
    """Use PIPELINING when offered."""
    chunking: bool = True
    """Use BDAT when CHUNKING is offered (otherwise DATA)."""
    bdat_window: int = 8
    """BDAT chunks in flight with PIPELINING (1 without it)."""
    max_reply_line: int = 4096
    max_reply_lines: int = 256

    def __post_init__(self) -> None:
        if not self.helo_name or any(c.isspace() for c in self.helo_name):
            raise ValueError(f"bad helo_name {self.helo_name!r}")
        if self.tls not in ("none", "opportunistic", "required", "verify"):
            raise ValueError(f"bad tls mode {self.tls!r}")
        unknown = [m for m in self.auth_mechanisms if m.upper() not in ("PLAIN", "LOGIN")]
        if unknown or self.bdat_window < 1:
            raise ValueError(f"unsupported SASL mechanisms {unknown} or bdat_window < 1")


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


class _X(Enum):
    """What an awaited reply answers."""

    GREETING = "greeting"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    AUTH = "auth"
    RSET = "rset"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    DISCARD = "discard"  # "." after a 354 that came although no RCPT was accepted
    BDAT = "bdat"
    FINAL = "final"
    QUIT = "quit"


_TXN = frozenset({_X.RSET, _X.MAIL, _X.RCPT, _X.DATA, _X.DISCARD, _X.BDAT, _X.FINAL})
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
_STAGE_OF_X: dict[_X, Stage] = {
    _X.RSET: "rset",
    _X.MAIL: "mail",
    _X.RCPT: "rcpt",
    _X.DATA: "data",
    _X.DISCARD: "data",
}
_WHAT: dict[str, str] = {
    "greeting": "greeting refused",
    "ehlo": "EHLO/HELO refused",
    "starttls": "STARTTLS refused",
    "auth": "authentication failed",
    "rset": "RSET refused",
    "mail": "sender refused",
    "rcpt": "recipient refused",
    "data": "DATA refused",
    "content": "message refused",
    "final": "message refused",
}


def describe(stage: Stage, reply: Reply) -> str:
    """One line for logs and DSNs: "recipient refused: 550 5.1.1 No such user"."""
    if reply.code == 421:
        what = "peer closing the session"
    elif reply.positive:
        what = "accepted"
    else:
        what = _WHAT.get(stage, "refused")
    status = f" {reply.status}" if reply.status else ""
    return f"{what}: {reply.code}{status} {reply.text}".rstrip()


def _remote_failure(reply: Reply, stage: Stage) -> SessionFailure:
    kind = "deferred" if reply.positive else kind_of(reply)
    return SessionFailure(reply, describe(stage, reply), stage, kind)


class _PeerError(Exception):
    """The peer broke the protocol (a malformed or overlong reply)."""


_NOTIFY = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})


@dataclass
class _Txn:
    envelope: Envelope
    bdat: bool
    outcomes: list[RecipientOutcome | None]
    pending: deque[tuple[bytes, _X, int]] = field(default_factory=deque)
    """Commands not yet sent (without PIPELINING)."""
    outstanding: int = 0
    """Sent commands of this transaction still awaiting their reply."""
    mail: Reply | None = None
    data: Reply | None = None
    accepted: list[int] = field(default_factory=list)
    decided: Reply | None = None
    """The reply that decides every accepted recipient."""
    decided_stage: Stage = "final"
    encoder: DotEncoder | None = None
    lines: LineEnds | None = None
    held: bytes | None = None
    """BDAT: the latest chunk, held back so that the last one can carry LAST."""
    ended: bool = False


class ClientConnection:
    """One SMTP client session, without I/O. See the module docstring."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._state = ClientState.GREETING
        self._buf = bytearray()
        self._out = bytearray()
        self._events: deque[ClientEvent] = deque()
        self._expect: deque[tuple[_X, int]] = deque([(_X.GREETING, 0)])
        self._eof: str | None = None
        self._secure = False
        self._tls_declined = False
        self._ext = Extensions()
        self._authenticated = False
        self._auth_mechanism = ""
        self._auth_step = 0
        self._txn: _Txn | None = None
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
            return _STAGE_OF_X.get(self._expect[0][0], "mail") if self._expect else "mail"
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
                except _PeerError as exc:
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
        self._command(f"EHLO {self.config.helo_name}", _X.EHLO)
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
        self._command("QUIT", _X.QUIT)
        self._state = ClientState.QUIT

    def start_transaction(self, envelope: Envelope, traits: ContentTraits | None = None) -> None:
        """Send one message's envelope. `traits` describe the content (ContentTraits.of);
        without them the envelope's body/smtputf8/size_hint stand in."""
        if self._state is not ClientState.READY or self._txn is not None:
            raise LocalProtocolError(f"start_transaction() in state {self._state.name}")
        if not envelope.recipients:
            raise ValueError("an envelope needs at least one recipient")
        if traits is None:
            eight_bit = envelope.body.upper() == "8BITMIME" or envelope.smtputf8
            traits = ContentTraits(envelope.size_hint, eight_bit, envelope.smtputf8)
        ext = self._ext
        bdat = self.config.chunking and ext.chunking
        txn = _Txn(envelope, bdat, [None] * len(envelope.recipients))
        self._txn = txn
        verdict = self._local_verdict(envelope, traits)
        if verdict is not None:
            txn.mail = verdict.reply
            self._finish(None, stage="local", remote=False, reason=verdict.reason)
            return
        commands: list[tuple[bytes, _X, int]] = []
        if self._needs_rset:
            commands.append((b"RSET", _X.RSET, 0))
        commands.append((self._mail_command(envelope, traits).encode(), _X.MAIL, 0))
        for i, rcpt in enumerate(envelope.recipients):
            if txn.outcomes[i] is None:
                commands.append((self._rcpt_command(rcpt).encode(), _X.RCPT, i))
        self._state = ClientState.ENVELOPE
        if self.config.pipelining and ext.pipelining:
            if not bdat:
                commands.append((b"DATA", _X.DATA, 0))
            for line, what, index in commands:
                self._txn_command(line, what, index)
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
            self._expect.append((_X.FINAL, 0))
            txn.outstanding += 1
        else:
            assert txn.lines is not None
            self._send_bdat(txn, (txn.held or b"") + txn.lines.finish(), last=True)
            txn.held = None

    # -- transactions ----------------------------------------------------------------------

    def _local_verdict(self, envelope: Envelope, traits: ContentTraits) -> SessionFailure | None:
        """Refusals we can give before sending anything; also fails bad recipient addresses."""
        if not _valid_path(envelope.mail_from, sender=True):
            return self._local(553, "5.1.7", f"bad sender address {envelope.mail_from!r}")
        txn = self._txn
        assert txn is not None
        for i, rcpt in enumerate(envelope.recipients):
            if not _valid_path(rcpt.address, sender=False):
                reply = Reply(553, "5.1.3", f"bad recipient address {rcpt.address!r}")
                txn.outcomes[i] = RecipientOutcome(
                    rcpt.address, "failed", reply, reply.text, "local", remote=False
                )
        if all(o is not None for o in txn.outcomes):
            return self._local(553, "5.1.3", "no valid recipient address")
        if self._needs_smtputf8(envelope, traits) and not self._ext.smtputf8:
            return self._local(
                554, "5.6.7", "peer lacks SMTPUTF8, which the message needs (RFC 6531)"
            )
        limit = self._ext.size
        if limit and traits.size is not None and traits.size > limit:
            return self._local(
                552, "5.3.4", f"message size {traits.size} exceeds the peer's limit {limit}"
            )
        return None

    @staticmethod
    def _needs_smtputf8(envelope: Envelope, traits: ContentTraits) -> bool:
        addresses = [envelope.mail_from, *(r.address for r in envelope.recipients)]
        return traits.utf8_headers or not all(a.isascii() for a in addresses)

    def _mail_command(self, envelope: Envelope, traits: ContentTraits) -> str:
        ext = self._ext
        params = []
        if ext.esmtp:
            if ext.size is not None and traits.size is not None:
                params.append(f"SIZE={traits.size}")
            if traits.eight_bit and ext.eightbitmime:
                params.append("BODY=8BITMIME")
            if self._needs_smtputf8(envelope, traits):
                params.append("SMTPUTF8")
            if ext.dsn and envelope.ret and envelope.ret.upper() in ("FULL", "HDRS"):
                params.append(f"RET={envelope.ret.upper()}")
            if ext.dsn and envelope.envid:
                params.append(f"ENVID={grammar.xtext_encode(envelope.envid)}")
        return " ".join([f"MAIL FROM:<{envelope.mail_from}>", *params])

    def _rcpt_command(self, rcpt: Recipient) -> str:
        params = []
        if self._ext.dsn:
            notify = [n.upper() for n in rcpt.notify]
            if notify and all(n in _NOTIFY for n in notify):
                params.append("NOTIFY=" + ",".join(notify))
            orcpt = _orcpt(rcpt.orcpt)
            if orcpt:
                params.append(f"ORCPT={orcpt}")
        return " ".join([f"RCPT TO:<{rcpt.address}>", *params])

    def _txn_command(self, line: bytes, what: _X, index: int) -> None:
        assert self._txn is not None
        self._out += line + b"\r\n"
        self._expect.append((what, index))
        self._txn.outstanding += 1

    def _send_pending(self) -> None:
        txn = self._txn
        assert txn is not None
        if txn.mail is not None and not txn.mail.positive:
            txn.pending.clear()
        if txn.pending:
            self._txn_command(*txn.pending.popleft())

    def _send_bdat(self, txn: _Txn, chunk: bytes, *, last: bool) -> None:
        head = f"BDAT {len(chunk)} LAST\r\n" if last else f"BDAT {len(chunk)}\r\n"
        self._out += head.encode() + chunk
        self._expect.append((_X.FINAL if last else _X.BDAT, 0))
        txn.outstanding += 1

    def _content_txn(self) -> _Txn | None:
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

    def _on_txn_reply(self, what: _X, index: int, reply: Reply) -> None:
        txn = self._txn
        assert txn is not None
        txn.outstanding -= 1
        if what is _X.RSET:
            if not reply.positive:
                self._fail(_remote_failure(reply, "rset"), quit=True)
                return
            self._needs_rset = False
        elif what is _X.MAIL:
            txn.mail = reply
        elif what is _X.RCPT:
            if txn.mail is not None and txn.mail.positive:
                if reply.positive:
                    txn.accepted.append(index)
                else:
                    address = txn.envelope.recipients[index].address
                    txn.outcomes[index] = RecipientOutcome(
                        address, kind_of(reply), reply, describe("rcpt", reply), "rcpt"
                    )
        elif what is _X.DATA:
            txn.data = reply
            if reply.code == 354 and not (txn.accepted and txn.mail and txn.mail.positive):
                self._txn_command(b".", _X.DISCARD, 0)  # RFC 2920 3.1: an empty message
        elif what in (_X.BDAT, _X.FINAL) and txn.decided is None:
            if what is _X.FINAL or not reply.positive:
                txn.decided = reply
                txn.decided_stage = "final" if what is _X.FINAL else "content"
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
            mail = txn.mail
            if mail is None or not mail.positive:
                self._finish(None)
            elif not txn.accepted:
                self._needs_rset = True
                self._finish(None)
            elif txn.bdat:
                txn.lines = LineEnds()
                self._state = ClientState.CONTENT
            elif txn.data is None:
                self._txn_command(b"DATA", _X.DATA, 0)
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
        self,
        failure: SessionFailure | None,
        *,
        stage: Stage = "mail",
        remote: bool = True,
        reason: str = "",
    ) -> None:
        txn = self._txn
        assert txn is not None
        self._txn = None
        mail = txn.mail
        outcomes = []
        for i, rcpt in enumerate(txn.envelope.recipients):
            outcome = txn.outcomes[i]
            if outcome is None:
                if mail is not None and not mail.positive:
                    why = reason or describe("mail", mail)
                    outcome = RecipientOutcome(
                        rcpt.address, kind_of(mail), mail, why, stage, remote
                    )
                elif txn.decided is not None and i in txn.accepted:
                    d = txn.decided
                    st = txn.decided_stage
                    outcome = RecipientOutcome(rcpt.address, kind_of(d), d, describe(st, d), st)
                elif failure is not None:
                    outcome = failure.outcome(rcpt.address)
                else:  # cannot happen: every path above decides everyone
                    f = self._local(451, "4.5.0", "transaction ended without a verdict")
                    outcome = f.outcome(rcpt.address)
            outcomes.append(outcome)
        if txn.decided is not None:
            final = txn.decided
        elif mail is not None and not mail.positive:
            final = mail
        elif failure is not None:
            final = failure.reply
        else:
            final = next(o.reply for o in outcomes if not o.reply.positive)
        self._events.append(TransactionDone(TransactionResult(tuple(outcomes), final)))
        if self._state in (ClientState.ENVELOPE, ClientState.CONTENT, ClientState.FINAL):
            self._state = ClientState.READY

    # -- session setup ---------------------------------------------------------------------

    def _on_reply(self, reply: Reply) -> None:
        what, index = self._expect.popleft()
        if what is _X.QUIT:
            self._close(self._closing)
            return
        stage = _STAGE_OF_X.get(what) or self.stage
        if reply.code == 421:  # the peer is closing the channel (RFC 5321 3.8)
            self._fail(_remote_failure(reply, stage), quit=False)
            return
        if what in _TXN:
            self._on_txn_reply(what, index, reply)
        elif what is _X.GREETING:
            if reply.code == 220:
                self._command(f"EHLO {self.config.helo_name}", _X.EHLO)
                self._state = ClientState.EHLO
            else:
                self._fail(_remote_failure(reply, "greeting"), quit=True)
        elif what is _X.EHLO:
            if reply.code == 250:
                self._ext = Extensions.parse(reply)
                self._after_hello()
            elif reply.code in (500, 502):
                self._command(f"HELO {self.config.helo_name}", _X.HELO)
                self._state = ClientState.HELO
            else:
                self._fail(_remote_failure(reply, "ehlo"), quit=True)
        elif what is _X.HELO:
            if reply.code == 250:
                self._ext = Extensions.helo(reply)
                self._after_hello()
            else:
                self._fail(_remote_failure(reply, "ehlo"), quit=True)
        elif what is _X.STARTTLS:
            if reply.code == 220:
                self._buf.clear()  # never act on bytes that preceded the handshake
                self._state = ClientState.TLS
                self._events.append(UpgradeTls())
            elif self.config.tls == "opportunistic":
                self._tls_declined = True
                self._after_hello()
            else:
                failure = _remote_failure(reply, "starttls")
                self._fail(SessionFailure(reply, failure.reason, "starttls", "deferred"), True)
        elif what is _X.AUTH:
            self._on_auth(reply)

    def _after_hello(self) -> None:
        mode = self.config.tls
        if not self._secure and mode != "none" and not self._tls_declined:
            if self._ext.starttls:
                self._command("STARTTLS", _X.STARTTLS)
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
            self._command(f"AUTH PLAIN {self._plain()}", _X.AUTH)
        else:
            self._command("AUTH LOGIN", _X.AUTH)

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
            failure = _remote_failure(reply, "auth")
            self._fail(SessionFailure(reply, failure.reason, "auth", "deferred"), quit=True)
            return
        step, self._auth_step = self._auth_step, self._auth_step + 1
        user, password = self.config.auth
        if self._auth_mechanism == "PLAIN" and step == 0:
            answer = self._plain()  # the peer ignored the initial response
        elif self._auth_mechanism == "LOGIN" and step < 2:
            answer = base64.b64encode((user if step == 0 else password).encode()).decode()
        else:
            answer = "*"
        self._command(answer, _X.AUTH)

    # -- plumbing --------------------------------------------------------------------------

    def _command(self, line: str, what: _X) -> None:
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
            self._command("QUIT", _X.QUIT)
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
        except _PeerError:
            reply = None
        if reply is not None and not reply.positive:
            self._fail(_remote_failure(reply, stage), quit=False)
        else:
            self._fail(self._local(421, "4.4.2", f"{detail} (during {stage})"), quit=False)

    def _take_reply(self) -> Reply | None:
        """One complete reply from the buffer, or None; _PeerError when malformed."""
        buf = self._buf
        limit = self.config.max_reply_line
        pos = 0
        lines: list[bytes] = []
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                if len(buf) - pos > limit:
                    raise _PeerError("reply line too long")
                return None
            if end - pos > limit:
                raise _PeerError("reply line too long")
            line = bytes(buf[pos:end]).rstrip(b"\r")
            pos = end + 1
            if (
                len(line) < 3
                or line[0] not in b"2345"
                or not line[:3].isdigit()
                or line[3:4] not in (b"", b" ", b"-")
            ):
                raise _PeerError(f"malformed reply line {line[:40]!r}")
            if lines and line[:3] != lines[0][:3]:
                raise _PeerError("multi-line reply with different codes")
            lines.append(line)
            if len(lines) > self.config.max_reply_lines:
                raise _PeerError("reply with too many lines")
            if line[3:4] != b"-":
                break
        del buf[:pos]
        return Reply.parse(b"\r\n".join(lines))


def _orcpt(value: str | None) -> str | None:
    """ORCPT as stored ("rfc822;" + xtext), re-encoded when its address is not valid xtext;
    None when unusable."""
    addr_type, semi, address = (value or "").partition(";")
    if not semi or not address or not addr_type.isascii() or not addr_type.isalnum():
        return None
    try:
        grammar.xtext_decode(address)
    except ValueError:
        address = grammar.xtext_encode(address)
    return f"{addr_type};{address}"


def _valid_path(address: str, *, sender: bool) -> bool:
    """The address makes a valid MAIL/RCPT path (no CR/LF, no "<" tricks: never a second
    command smuggled into ours)."""
    if sender and address == "":
        return True
    try:
        _, rest = grammar.parse_path(f"<{address}>", postmaster_ok=not sender)
    except ValueError:
        return False
    return rest == ""
