"""asyncio adapter around the SMTP server core: sockets, TLS, timeouts and limits.

One `SmtpSession` per connection: the protocol callbacks feed bytes to the core and wake the
session coroutine, which takes events from the core, asks the intake service, and writes the
replies. Everything about the wire format lives in proto/smtp; everything about what to accept
lives in pipeline/ and policy/."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from postoffice.credentials import LOGINS
from postoffice.pipeline.draft import Draft
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.session import SessionInfo, Transaction
from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.server import ServerConfig, ServerConnection
from postoffice.server import tls as tlsinfo
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.stream import Goodbye, StreamSession, throttled_login

log = logging.getLogger("postoffice.smtp")


TIMEOUT = Reply(421, "4.4.2", "Timeout, closing connection")
SHUTDOWN = Reply(421, "4.3.2", "Service shutting down, try again later")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_TEMPFAIL = Reply(454, "4.7.0", "Temporary authentication failure")


@dataclass(frozen=True)
class ListenerContext:
    """Shared by every session of one listener."""

    name: str
    """"smtp", "submission" or "submissions"."""
    core_config: ServerConfig
    intake: Intake
    limiter: ConnectionLimiter
    throttle: AuthThrottle
    lookup_password_hash: Callable[[str], Awaitable[str | None]]
    tls_context: ssl.SSLContext | None
    command_timeout: float
    data_timeout: float
    session_timeout: float
    implicit_tls: bool = False


class SmtpSession(StreamSession):
    log = log
    conn: ServerConnection

    def __init__(self, ctx: ListenerContext, sessions: set[SmtpSession]) -> None:
        super().__init__(sessions, ctx.limiter)
        self.ctx = ctx
        self._draining = False
        self.conn = ServerConnection(ctx.core_config)
        self.info: SessionInfo | None = None
        self._txn: Transaction | None = None
        self._draft: Draft | None = None
        self._queue_id = ""
        self._timestamp = 0.0

    def started(self) -> None:
        assert self._transport is not None
        peer = self._transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.info = SessionInfo(self.ctx.name, self.client_ip, int(peer[1]))
        self.info.trusted = self.ctx.intake.is_trusted(self.info.client_ip)
        self.ctx.intake.session_started(self.info)
        if self.ctx.implicit_tls:
            self.info.tls = tlsinfo.describe(self._transport.get_extra_info("ssl_object"))

    def eof_received(self) -> bool:
        super().eof_received()
        return True  # keep the write side open: replies to pipelined commands still go out

    def goodbye(self, why: Goodbye) -> bytes:
        if why == "busy":
            return Reply(421, "4.7.0", "Too many connections, try again later").render()
        if why == "timeout":
            return TIMEOUT.render()
        return Reply(421, "4.3.0", "Internal error, closing connection").render()

    def ended(self) -> None:
        self._abort_draft()

    def drain(self) -> None:
        """Ask the session to end after its current transaction (shutdown)."""
        self._draining = True
        self.wake()

    def _say(self, reply: Reply) -> None:
        """Write a last reply the core did not produce (timeouts, shutdown, errors)."""
        self.write(reply.render())

    async def serve(self) -> None:
        try:
            await asyncio.wait_for(self._serve(), self.ctx.session_timeout)
        except TimeoutError:
            self._say(TIMEOUT)

    async def _serve(self) -> None:
        conn = self.conn
        info = self.info
        assert info is not None
        ctx = self.ctx
        conn.greet(Reply(220, "", f"{ctx.core_config.hostname} ESMTP postoffice"))
        in_content = False
        while True:
            event = conn.next_event()
            if event is ev.NEED_DATA:
                self.flush()
                if self.closed:
                    return
                if self._draining and self._txn is None:
                    self._say(SHUTDOWN)
                    return
                timeout = ctx.data_timeout if in_content else ctx.command_timeout
                if not await self.wait_for_input(timeout):
                    self._say(TIMEOUT)
                    return
                continue
            if isinstance(event, ev.DataChunk):
                in_content = True
                if self._draft is None:
                    self._start_draft()
                assert self._draft is not None
                self._draft.write(event.data)
                continue
            in_content = False
            assert isinstance(event, ev.Event)
            if isinstance(event, ev.Closed):
                self.flush()
                return
            reply = await self._handle(event)
            if reply is not None:
                conn.send(reply)
                if isinstance(event, ev.StartTls) and reply.code == 220:
                    self.flush()
                    if not await self._start_tls():
                        return
                elif isinstance(event, ev.DataStart) and reply.code == 354:
                    in_content = True

    async def _handle(self, event: ev.Event) -> Reply | None:
        conn, info, ctx = self.conn, self.info, self.ctx
        assert info is not None
        if isinstance(event, ev.Hello):
            info.helo = event.domain
            info.esmtp = event.verb != "HELO"
            self._end_transaction()
            return conn.hello_reply(f"{ctx.core_config.hostname} Hello {event.domain}")
        if isinstance(event, ev.MailFrom):
            reply = await ctx.intake.mail_from(info, event.address)
            if reply.positive:
                self._txn = Transaction(event.address, dict(event.params))
                ctx.intake.transaction_started(info, self._txn)
            return reply
        if isinstance(event, ev.RcptTo):
            assert self._txn is not None
            return await ctx.intake.rcpt_to(
                info, self._txn, event.address, dict(event.params), event.source_route
            )
        if isinstance(event, ev.DataStart):
            self._start_draft()
            return Reply(354, "", "End data with <CR><LF>.<CR><LF>")
        if isinstance(event, ev.BdatChunkEnd):
            return Reply(250, "2.0.0", f"{event.size} octets received")
        if isinstance(event, ev.DataEnd):
            return await self._finish_message()
        if isinstance(event, ev.DataRejected):
            self._end_transaction()
            return None
        if isinstance(event, ev.Reset):
            self._end_transaction()
            return None
        if isinstance(event, ev.StartTls):
            if ctx.tls_context is None:
                return Reply(454, "4.7.0", "TLS not available")
            return Reply(220, "2.0.0", "Ready to start TLS")
        if isinstance(event, ev.AuthCredentials):
            return await self._authenticate(event)
        if isinstance(event, ev.Verify):
            return await ctx.intake.verify(event.argument)
        raise AssertionError(f"unhandled SMTP event {event!r}")

    # -- transactions ---------------------------------------------------------------------

    def _start_draft(self) -> None:
        assert self.info is not None and self._txn is not None
        self._abort_draft()
        self._queue_id, self._timestamp, self._draft = self.ctx.intake.start_data(
            self.info, self._txn
        )

    async def _finish_message(self) -> Reply:
        assert self.info is not None and self._txn is not None
        if self._draft is None:  # BDAT 0 LAST: an empty message
            self._start_draft()
        assert self._draft is not None
        draft, self._draft = self._draft, None
        try:
            return await self.ctx.intake.end_data(
                self.info, self._txn, self._queue_id, self._timestamp, draft
            )
        finally:
            self._txn = None

    def _abort_draft(self) -> None:
        if self._draft is not None:
            self._draft.abort()
            self._draft = None

    def _end_transaction(self) -> None:
        self._abort_draft()
        self._txn = None

    # -- TLS and AUTH ---------------------------------------------------------------------

    async def _start_tls(self) -> bool:
        assert self.info is not None and self.ctx.tls_context is not None
        if not await self.start_tls(self.ctx.tls_context, min(60.0, self.ctx.command_timeout)):
            return False
        assert self._transport is not None
        self.info.tls = tlsinfo.describe(self._transport.get_extra_info("ssl_object"))
        self.info.helo = ""
        self.conn.tls_started()
        return True

    async def _authenticate(self, event: ev.AuthCredentials) -> Reply:
        assert self.info is not None
        throttle = self.ctx.throttle
        ip, user = self.info.client_ip, event.username
        try:
            stored = await self.ctx.lookup_password_hash(user)
        except Exception:
            log.exception("password lookup failed")
            return AUTH_TEMPFAIL
        ok = (
            stored is not None
            and (not event.authzid or event.authzid.lower() == user.lower())
            and (LOGINS.cached(user, event.password, stored)
                 or await self._loop.run_in_executor(None, LOGINS.verify, user, event.password,
                                                     stored))
        )
        if not await throttled_login(throttle, ip, user, ok, log):
            return AUTH_FAILED
        self.info.auth_identity = user.lower()
        return AUTH_OK
