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

from postoffice.credentials import LOGINS
from postoffice.policy.logins import plaintext_login_allowed
from postoffice.proto.pop3 import events as ev
from postoffice.proto.pop3 import responses
from postoffice.proto.pop3.server import ServerConfig, ServerConnection, State
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.pop3_maildrop import Inbox, Maildrops
from postoffice.server.stream import Goodbye, StreamSession, throttled_login
from postoffice.storage.interfaces import StorageError

log = logging.getLogger("postoffice.pop3")

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
    plaintext_auth: str = "never"
    """USER/PASS and AUTH without TLS: "never", "loopback" or "always" (policy/logins.py)."""
    idle_timeout: float = IDLE_TIMEOUT
    handshake_timeout: float = 60.0
    hostname: str = ""

    def core_config(self, client_ip: str) -> ServerConfig:
        return ServerConfig(tls_available=self.tls_context is not None and not self.implicit_tls,
                            plaintext_auth=plaintext_login_allowed(self.plaintext_auth,
                                                                   client_ip))


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


class Pop3Session(StreamSession):
    log = log
    conn: ServerConnection

    def __init__(self, ctx: Pop3Listener, sessions: set[Pop3Session]) -> None:
        super().__init__(sessions, ctx.limiter)
        self.ctx = ctx
        self._draining = False
        self.conn = ServerConnection(ctx.core_config(""), secure=ctx.implicit_tls)
        self.inbox: Inbox | None = None

    def started(self) -> None:
        self.conn = ServerConnection(self.ctx.core_config(self.client_ip),
                                     secure=self.ctx.implicit_tls)

    def goodbye(self, why: Goodbye) -> bytes:
        if why == "timeout":
            return responses.err("Autologout: idle for too long")
        return responses.err("Too many connections, try again later" if why == "busy"
                             else "Internal error, closing connection", "SYS/TEMP")

    def ended(self) -> None:
        if self.inbox is not None:
            self.inbox.lock.release()
            self.inbox = None

    def drain(self) -> None:
        """Ask the session to end: at once when idle outside TRANSACTION, else at QUIT."""
        self._draining = True
        self.wake()

    async def serve(self) -> None:
        conn = self.conn
        hostname = self.ctx.hostname
        conn.greet(f"{hostname} POP3 server ready" if hostname else "POP3 server ready")
        while True:
            event = conn.next_event()
            if isinstance(event, ev.NeedData):
                if not await self.flushed(self.ctx.idle_timeout) or self.closed:
                    return
                if self._draining and conn.state is not State.TRANSACTION:
                    self.write(responses.err("Server shutting down, try again later", "SYS/TEMP"))
                    return
                if not await self.wait_for_input(self.ctx.idle_timeout):
                    self.write(self.goodbye("timeout"))
                    return
            elif isinstance(event, ev.Closed):
                await self.flushed(self.ctx.idle_timeout)
                return
            elif isinstance(event, ev.StartTls):
                self.flush()  # no await: the ClientHello must reach TLS
                assert self.ctx.tls_context is not None
                if not await self.start_tls(self.ctx.tls_context, self.ctx.handshake_timeout):
                    return
                conn.tls_started()
            elif isinstance(event, ev.Credentials):
                await self._login(event)
            elif isinstance(event, ev.Retr | ev.Top):
                await self._send_message(event)
            elif isinstance(event, ev.Update):
                await self._update(event)
            # the other events were answered by the core

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
            and (LOGINS.cached(login, event.password, user.password_hash)
                 or await self._loop.run_in_executor(
                     None, LOGINS.verify, login, event.password, user.password_hash))
        )
        if not await throttled_login(ctx.throttle, ip, login, ok, log) or user is None:
            self.conn.auth_failed()
            return
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
