"""asyncio adapter around the POP3 server core: sockets, TLS, timeouts, limits, the maildrop.

Two listeners share it: "pop3" (plain, STLS offered when there is a certificate; no login
before TLS unless `plaintext_auth`) and "pop3s" (implicit TLS). One `Pop3Session` per
connection: the protocol callbacks feed bytes to the core and wake the session coroutine,
which answers the core's events from the maildrop (server/pop3_maildrop.py). The wire format
lives in proto/pop3.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import cast

from postoffice.credentials import verify_password
from postoffice.proto.pop3 import events as ev
from postoffice.proto.pop3 import responses
from postoffice.proto.pop3.server import ServerConfig, ServerConnection, State
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.pop3_maildrop import Inbox, Maildrops
from postoffice.storage.interfaces import StorageError

log = logging.getLogger("postoffice.pop3")

READ_HIGH_WATER = 256 * 1024
"""Stop reading from a client that pipelines more than this ahead of our responses."""
IDLE_TIMEOUT = 600.0
"""RFC 1939 section 3: an inactivity autologout timer of at least 10 minutes."""


@dataclass(frozen=True)
class Pop3Listener:
    """Shared by every session of one listener."""

    name: str
    """"pop3" or "pop3s"."""
    maildrops: Maildrops
    limiter: ConnectionLimiter
    throttle: AuthThrottle
    tls_context: ssl.SSLContext | None
    implicit_tls: bool = False
    plaintext_auth: bool = False
    """Allow USER/PASS and AUTH without TLS."""
    idle_timeout: float = IDLE_TIMEOUT
    handshake_timeout: float = 60.0
    hostname: str = ""

    def core_config(self) -> ServerConfig:
        return ServerConfig(tls_available=self.tls_context is not None and not self.implicit_tls,
                            plaintext_auth=self.plaintext_auth)


async def start_pop3_server(
    listener: Pop3Listener,
    host: str | None = None,
    port: int = 0,
    *,
    sock: socket.socket | None = None,
    sessions: set[Pop3Session] | None = None,
) -> asyncio.Server:
    """Serve `listener` on (host, port), or on `sock` (a bound socket) when given; `sessions`
    collects the live sessions (for drain/abort at shutdown)."""
    if listener.implicit_tls and listener.tls_context is None:
        raise ValueError(f"{listener.name}: implicit TLS needs a TLS context")
    live: set[Pop3Session] = set() if sessions is None else sessions
    loop = asyncio.get_running_loop()
    tls = listener.tls_context if listener.implicit_tls else None
    timeout = listener.handshake_timeout if listener.implicit_tls else None

    def factory() -> Pop3Session:
        return Pop3Session(listener, live)

    if sock is not None:
        return await loop.create_server(factory, sock=sock, ssl=tls,
                                        ssl_handshake_timeout=timeout)
    return await loop.create_server(factory, host, port, ssl=tls, ssl_handshake_timeout=timeout)


class Pop3Session(asyncio.Protocol):
    def __init__(self, ctx: Pop3Listener, sessions: set[Pop3Session]) -> None:
        self.ctx = ctx
        self._sessions = sessions
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._woken = False
        """Input (or close) since the last wait: the core may have more to do."""
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False
        self._draining = False
        self._paused = False
        self._buffered = 0
        self.client_ip = ""
        self.conn = ServerConnection(ctx.core_config(), secure=ctx.implicit_tls)
        self.inbox: Inbox | None = None
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.client_ip = str(peer[0])
        self._sessions.add(self)
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self.conn.receive_data(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.conn.receive_eof()
        self._wake()
        # Keep the write side open for the responses still due (TLS cannot half-close).
        return not self.conn.secure

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._writable.set()
        self._wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- shutdown -------------------------------------------------------------------------

    def drain(self) -> None:
        """Ask the session to end: at once when idle outside TRANSACTION, else at QUIT."""
        self._draining = True
        self._wake()

    def abort(self) -> None:
        """Drop the connection now (shutdown grace period over); nothing is expunged."""
        if self._transport is not None:
            self._transport.abort()

    # -- session coroutine ----------------------------------------------------------------

    def _wake(self) -> None:
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait_for_input(self) -> bool:
        """Wait for bytes (or close); False after the idle timeout."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._buffered = 0
        if self._woken:  # arrived while the session was busy
            self._woken = False
            return True
        self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self.ctx.idle_timeout, self._waiter.cancel)
        try:
            await self._waiter
            self._woken = False
            return True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._waiter.cancelled() and not (task and task.cancelling()):
                return False
            raise
        finally:
            timer.cancel()
            self._waiter = None

    async def _flush(self) -> bool:
        """Write what the core has to send; False when the client stopped reading."""
        out = self.conn.data_to_send()
        if out and not self._closed and self._transport is not None:
            self._transport.write(out)
        if self._writable.is_set():
            return True
        try:
            await asyncio.wait_for(self._writable.wait(), self.ctx.idle_timeout)
        except TimeoutError:
            return False
        return True

    def _say(self, line: bytes) -> None:
        """Write now, without waiting for the client to read (a last response, or the one
        before the TLS handshake)."""
        if self._transport is not None and not self._closed:
            self._transport.write(line)

    def _close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()

    async def _run(self) -> None:
        refusal = self.ctx.limiter.acquire(self.client_ip)
        try:
            if refusal is not None:
                self._say(responses.err("Too many connections, try again later", "SYS/TEMP"))
                return
            await self._serve()
        except Exception:
            log.exception("POP3 session with %s failed", self.client_ip)
            self._say(responses.err("Internal error, closing connection", "SYS/TEMP"))
        finally:
            if refusal is None:
                self.ctx.limiter.release(self.client_ip)
            if self.inbox is not None:
                self.inbox.lock.release()
                self.inbox = None
            self._sessions.discard(self)
            self._close()

    async def _serve(self) -> None:
        conn = self.conn
        hostname = self.ctx.hostname
        conn.greet(f"{hostname} POP3 server ready" if hostname else "POP3 server ready")
        while True:
            event = conn.next_event()
            if isinstance(event, ev.NeedData):
                if not await self._flush() or self._closed:
                    return
                if self._draining and conn.state is not State.TRANSACTION:
                    self._say(responses.err("Server shutting down, try again later", "SYS/TEMP"))
                    return
                if not await self._wait_for_input():
                    self._say(responses.err("Autologout: idle for too long"))
                    return
            elif isinstance(event, ev.Closed):
                await self._flush()
                return
            elif isinstance(event, ev.StartTls):
                self._say(conn.data_to_send())  # no await: the ClientHello must reach TLS
                if not await self._start_tls():
                    return
            elif isinstance(event, ev.Credentials):
                await self._login(event)
            elif isinstance(event, ev.Retr | ev.Top):
                await self._send_message(event)
            elif isinstance(event, ev.Update):
                await self._update(event)
            # the other events were answered by the core

    async def _start_tls(self) -> bool:
        assert self._transport is not None and self.ctx.tls_context is not None
        try:
            transport = await self._loop.start_tls(
                self._transport, self, self.ctx.tls_context, server_side=True,
                ssl_handshake_timeout=self.ctx.handshake_timeout)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", self.client_ip, exc)
            self._closed = True
            return False
        if transport is None:
            self._closed = True
            return False
        self._transport = transport
        self.conn.tls_started()
        return True

    # -- the maildrop ---------------------------------------------------------------------

    async def _login(self, event: ev.Credentials) -> None:
        ctx, ip, login = self.ctx, self.client_ip, event.user
        try:
            user = await ctx.maildrops.find_user(login)
        except StorageError:
            log.exception("user lookup failed")
            self.conn.auth_failed("Temporary failure, try again later", "SYS/TEMP")
            return
        ok = (
            user is not None
            and (not event.authzid or event.authzid.lower() == login.lower())
            and await self._loop.run_in_executor(
                None, verify_password, event.password, user.password_hash)
        )
        if not ok or user is None:
            # Each failure from this address or against this account answers more slowly.
            ctx.throttle.failed(ip, login)
            log.info("POP3 login failed for %r from %s", login, ip)
            await asyncio.sleep(ctx.throttle.delay(ip, login))
            self.conn.auth_failed()
            return
        ctx.throttle.succeeded(ip, login)
        try:
            self.inbox = await ctx.maildrops.open(user.address)
        except StorageError:
            log.exception("opening the maildrop of %s failed", user.address)
            self.conn.auth_failed("Maildrop unavailable, try again later", "SYS/TEMP")
            return
        if self.inbox is None:
            self.conn.auth_failed("Maildrop in use by another session", "IN-USE")
            return
        log.info("POP3 login %s from %s", user.address, ip)
        self.conn.authenticated(self.inbox.listing())

    async def _send_message(self, event: ev.Retr | ev.Top) -> None:
        assert self.inbox is not None
        try:
            data = await self.ctx.maildrops.read(self.inbox, event.number)
        except StorageError:
            log.exception("reading a message of %s failed", self.inbox.address)
            self.conn.unavailable()
            return
        if data is None:
            self.conn.unavailable("Message expunged by another session")
            return
        if isinstance(event, ev.Retr):
            self.inbox.retrieved.add(event.number)
        self.conn.send_message(data)

    async def _update(self, event: ev.Update) -> None:
        assert self.inbox is not None
        try:
            await self.ctx.maildrops.update(self.inbox, event.deleted)
        except StorageError:
            log.exception("updating the maildrop of %s failed", self.inbox.address)
            self.conn.unavailable("Deletions not applied, try again later")
            return
        self.conn.updated()
