"""The sans-I/O SMTP server core (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
ENHANCEDSTATUSCODES, STARTTLS, AUTH, CHUNKING and DSN), in the h11 style.

Theory of operation
-------------------
Bytes go in with `receive_data()`; `next_event()` parses them in order and returns one event at
a time, or NEED_DATA. Events that need a reply (states.NEEDS_REPLY) leave the core waiting: the
adapter answers with `send(reply)`, and until then `next_event()` returns NEED_DATA, so
pipelined commands simply wait in the buffer and every reply goes out in command order. A
command is a proposal; the reply commits it: the state moves along the ONE transition table,
`states.TRANSITIONS[state, event]`, to its positive or negative side.

Everything the core can decide alone it answers itself, straight into `data_to_send()`:
syntax and sequence errors, NOOP, RSET, HELP, QUIT, disabled VRFY, too many recipients, SIZE
over the limit, overlong lines, SASL challenges, refused DATA/BDAT content (session.py). Those
reach the adapter only as notifications (Reset, DataRejected, Closed).

Framing (this module): command lines end with LF (CRLF expected, bare LF tolerated) and are
capped at max_command_line octets (max_auth_line for AUTH); after the 354 to DATA the bytes are
content for the DotDecoder until CRLF.CRLF; after BDAT n exactly n octets are content. After
the 220 to STARTTLS every buffered or further byte is dropped until `tls_started()`.

Typical adapter loop:
    conn.greet(Reply(220, "", "mx.example.org ESMTP"))
    while True:
        event = conn.next_event()
        if event is NEED_DATA: write(conn.data_to_send()); conn.receive_data(await read())
        elif isinstance(event, Closed): write(conn.data_to_send()); break
        elif isinstance(event, DataChunk): spool.write(event.data)
        elif event needs a reply: conn.send(decide(event))
"""

from __future__ import annotations

from postoffice.proto.smtp import replies as R
from postoffice.proto.smtp.config import ServerConfig
from postoffice.proto.smtp.data import DotDecoder
from postoffice.proto.smtp.events import (
    NEED_DATA,
    AuthCredentials,
    BdatChunkEnd,
    DataChunk,
    DataEnd,
    DataStart,
    Event,
    Hello,
    MailFrom,
    NeedData,
    RcptTo,
    Reset,
    StartTls,
)
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.session import Session
from postoffice.proto.smtp.states import NEEDS_REPLY, TRANSITIONS, State

__all__ = ["LocalProtocolError", "ServerConfig", "ServerConnection", "State", "TRANSITIONS"]


class LocalProtocolError(RuntimeError):
    """The adapter used the core wrongly (a reply nobody asked for, a 2xx to DATA ...)."""


class ServerConnection(Session):
    """One SMTP server session, without I/O. See the module docstring."""

    # -- properties ------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def secure(self) -> bool:
        """True under TLS (implicit, or after tls_started())."""
        return self._secure

    @property
    def auth_identity(self) -> str | None:
        """The username accepted with 235, else None."""
        return self._auth_identity

    @property
    def helo(self) -> str | None:
        """The domain of the accepted EHLO/HELO, else None."""
        return self._helo

    @property
    def esmtp(self) -> bool:
        """True after an accepted EHLO (False after HELO)."""
        return self._esmtp

    @property
    def mail(self) -> MailFrom | None:
        """The accepted MAIL of the current transaction (address and validated params)."""
        return self._mail

    @property
    def recipients(self) -> int:
        """RCPTs accepted in the current transaction."""
        return self._rcpts

    # -- the adapter's side ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client. Ignored once closed and while a TLS handshake is due."""
        if self._state in (State.CLOSED, State.TLS) or self._eof:
            return
        self._buf += data

    def receive_eof(self) -> None:
        """The client closed its side; Closed("eof") follows the buffered commands."""
        self._eof = True

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def greet(self, reply: Reply) -> None:
        """Send the banner: 220 opens the session, anything else (421/554) refuses it."""
        if self._state is not State.GREETING:
            raise LocalProtocolError("greet() twice")
        self._out += reply.render()
        if reply.code == 220:
            self._state = State.INITIAL
        else:
            self._close("refused")

    def tls_started(self) -> None:
        """The adapter finished the TLS handshake after a 220 to STARTTLS (RFC 3207 4.2)."""
        if self._state is not State.TLS:
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self._buf.clear()
        self._secure = True
        self._helo = None
        self._esmtp = False
        self._auth_identity = None
        self._state = State.INITIAL
        self._events.append(Reset())

    def next_event(self) -> Event | NeedData:
        while True:
            if self._events:
                event = self._events.popleft()
                if isinstance(event, NEEDS_REPLY):
                    self._pending = event
                return event
            if self._closed is not None:
                return self._closed
            if self._pending is not None:
                return NEED_DATA
            if not self._step():
                if self._eof and self._state is not State.GREETING:
                    self._close("eof")
                    continue
                return NEED_DATA

    def send(self, reply: Reply) -> None:
        """Answer the event that awaits a reply; the reply commits or refuses its transition."""
        event = self._pending
        if event is None:
            raise LocalProtocolError("no event awaits a reply")
        want = 3 if isinstance(event, DataStart) else 2
        if reply.positive and reply.code // 100 != want:
            raise LocalProtocolError(f"{reply.code} cannot answer {type(event).__name__}")
        self._pending = None
        self._out += reply.render()
        positive = reply.positive
        self._state = TRANSITIONS[self._state, type(event)][0 if positive else 1]
        if isinstance(event, Hello) and positive:
            self._helo, self._esmtp = event.domain, event.verb != "HELO"
        elif isinstance(event, StartTls) and positive:
            self._buf.clear()  # never act on commands sent before the handshake
        elif isinstance(event, AuthCredentials) and positive:
            self._auth_identity = event.username
        elif isinstance(event, MailFrom) and positive:
            self._mail = event
        elif isinstance(event, RcptTo) and positive:
            self._rcpts += 1
        elif isinstance(event, DataStart) and positive:
            self._dot = DotDecoder(self.config.max_message_size, self.config.bare_newline)
        elif isinstance(event, DataEnd):
            self._reset_transaction()
        elif isinstance(event, BdatChunkEnd) and not positive:
            self._reset_transaction()
            self._events.append(Reset())
        if reply.code == 421:
            self._close("service-unavailable")

    def extensions(self) -> list[str]:
        """The EHLO keywords for the current state of the session."""
        c = self.config
        ext = ["PIPELINING"] if c.pipelining else []
        ext.append(f"SIZE {c.max_message_size}" if c.max_message_size else "SIZE")
        ext.append("8BITMIME")
        if c.smtputf8:
            ext.append("SMTPUTF8")
        ext.append("ENHANCEDSTATUSCODES")
        if c.tls_available and not self._secure:
            ext.append("STARTTLS")
        if self._auth_offered():
            ext.append("AUTH " + " ".join(m.upper() for m in c.auth_mechanisms))
        if c.chunking:
            ext.append("CHUNKING")
        if c.dsn:
            ext.append("DSN")
        return ext

    def hello_reply(self, text: str = "") -> Reply:
        """The positive reply to the pending Hello: `text` (default: our hostname) as the first
        line, then for EHLO the extensions."""
        event = self._pending
        if not isinstance(event, Hello):
            raise LocalProtocolError("hello_reply() without a pending Hello")
        first = text or self.config.hostname
        if event.verb == "HELO":
            return Reply(250, "", first)
        return Reply(250, "", first, *self.extensions())

    # -- input processing ------------------------------------------------------------------

    def _auth_offered(self) -> bool:
        c = self.config
        return (
            bool(c.auth_mechanisms)
            and self._auth_identity is None
            and (self._secure or not c.auth_requires_tls)
        )

    def _step(self) -> bool:
        """Consume some input; False when nothing can be done without more."""
        state = self._state
        if state in (State.GREETING, State.TLS, State.CLOSED):
            return False
        if self._discard:
            return self._discard_octets()
        if state is State.DATA:
            return self._data_step()
        if state is State.BDAT:
            return self._bdat_step()
        buf = self._buf
        if self._skip_line:
            i = buf.find(b"\n")
            if i < 0:
                buf.clear()
                return False
            del buf[: i + 1]
            self._skip_line = False
        auth = state is State.AUTH or buf[:5].upper() == b"AUTH "
        limit = self.config.max_auth_line if auth else self.config.max_command_line
        i = buf.find(b"\n", 0, limit)
        if i < 0:
            if len(buf) < limit:
                return False
            del buf[:limit]  # no LF in there: all of it belongs to the overlong line
            self._skip_line = True
            if self._state is State.AUTH:
                self._state, self._sasl = State.READY, None
            self._refuse(R.AUTH_LINE_TOO_LONG if auth else R.LINE_TOO_LONG)
            return True
        line = bytes(buf[:i])
        del buf[: i + 1]
        self._command(line[:-1] if line.endswith(b"\r") else line)
        return True

    def _data_step(self) -> bool:
        if not self._buf:
            return False
        decoder = self._dot
        assert decoder is not None
        data = bytes(self._buf)
        self._buf.clear()
        out = decoder.feed(data)
        if out:
            self._events.append(DataChunk(out))
        if decoder.done:
            self._buf += decoder.leftover
            if decoder.error:
                self._reject_content(decoder.error)
            else:
                self._events.append(DataEnd(decoder.size))
        return True

    def _bdat_step(self) -> bool:
        decoder = self._chunk
        assert decoder is not None
        n = min(self._bdat_left, len(self._buf))
        if n:
            out = decoder.feed(bytes(self._buf[:n]))
            del self._buf[:n]
            self._bdat_left -= n
            if out:
                self._events.append(DataChunk(out))
        if self._bdat_left:
            return n > 0
        # The chunk is complete; the event queued below stops _step() until it is answered.
        if self._bdat_last:
            out = decoder.finish()
            if out:
                self._events.append(DataChunk(out))
        if decoder.error:
            self._reject_content(decoder.error)
        elif self._bdat_last:
            self._events.append(DataEnd(decoder.size))
        else:
            self._events.append(BdatChunkEnd(self._bdat_size))
        return True

    def _discard_octets(self) -> bool:
        n = min(self._discard, len(self._buf))
        del self._buf[:n]
        self._discard -= n
        if self._discard:
            return False
        self._discard_done()
        return True
