"""asyncio adapter around the ManageSieve core (RFC 5804): sockets, STARTTLS, timeouts.

One `ManageSieveSession` per connection: the protocol callbacks feed bytes to the core and
wake the session coroutine, which takes events from the core and answers them. The script
store and the authenticate callback are synchronous; they run through `offload`
(`asyncio.to_thread` unless the app gives its own), never on the event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from postoffice.policy.logins import plaintext_login_allowed
from postoffice.proto.managesieve import events as ev
from postoffice.proto.managesieve import responses as R
from postoffice.proto.managesieve.server import ServerConfig, ServerConnection
from postoffice.proto.managesieve.store import ScriptStore, perform
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.stream import Goodbye, StreamSession, throttled_login

log = logging.getLogger("postoffice.managesieve")

T = TypeVar("T")


class Offload(Protocol):
    """Runs a synchronous call away from the event loop (e.g. `asyncio.to_thread`)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


Authenticator = Callable[[str, str], str | None]
"""(username, password) -> the user whose scripts the session manages, or None. Synchronous."""


@dataclass(frozen=True)
class ManageSieveContext:
    """Shared by every session of one listener."""

    store: ScriptStore
    authenticate: Authenticator
    tls_context: ssl.SSLContext | None
    core_config: ServerConfig
    offload: Offload = asyncio.to_thread
    idle_timeout: float = 600.0
    """Seconds a client may stay silent between commands."""
    handshake_timeout: float = 30.0
    throttle: AuthThrottle | None = None
    """Growing delays after failed logins (shared with the other listeners)."""
    limiter: ConnectionLimiter | None = None
    plaintext_auth: str = "never"
    """AUTHENTICATE without TLS: "never", "loopback" or "always" (policy/logins.py), decided
    per connection into the core's `plaintext_auth`."""
    sessions: set[ManageSieveSession] = field(default_factory=set)


class ManageSieveSession(StreamSession):
    log = log
    conn: ServerConnection

    def __init__(self, ctx: ManageSieveContext) -> None:
        super().__init__(ctx.sessions, ctx.limiter)
        self.ctx = ctx
        self.conn = ServerConnection(ctx.core_config)

    def started(self) -> None:
        allowed = plaintext_login_allowed(self.ctx.plaintext_auth, self.client_ip)
        self.conn = ServerConnection(replace(self.ctx.core_config, plaintext_auth=allowed))

    def goodbye(self, why: Goodbye) -> bytes:
        if why == "timeout":
            return R.bye("Idle timeout, closing connection")
        return R.bye("Too many connections, try again later" if why == "busy"
                     else "Internal error, closing connection", "TRYLATER")

    async def serve(self) -> None:
        conn = self.conn
        conn.greet()
        while True:
            event = conn.next_event()
            if event is ev.NEED_DATA:
                self.flush()
                if self.closed:
                    return
                if not await self.wait_for_input(self.ctx.idle_timeout):
                    self.write(self.goodbye("timeout"))
                    return
            elif isinstance(event, ev.Closed):
                self.flush()
                return
            elif isinstance(event, ev.Authenticate):
                await self._authenticate(event)
            elif isinstance(event, ev.Request):
                await self._request(event)
            elif isinstance(event, ev.StartTls):
                self.flush()
                assert self.ctx.tls_context is not None
                if not await self.start_tls(self.ctx.tls_context, self.ctx.handshake_timeout):
                    return
                conn.tls_started()

    async def _request(self, request: ev.Request) -> None:
        store = self.ctx.store
        try:
            response = await self.ctx.offload(lambda: perform(store, request))
        except Exception:
            log.exception("script store failed on %r", type(request).__name__)
            self.conn.unavailable()
        else:
            self.conn.answer(response)

    async def _authenticate(self, event: ev.Authenticate) -> None:
        ip, name, throttle = self.client_ip, event.username, self.ctx.throttle
        check = self.ctx.authenticate
        try:
            user = await self.ctx.offload(lambda: check(name, event.password))
        except Exception:
            log.exception("ManageSieve authentication failed with an error")
            self.conn.unavailable("Temporary authentication failure")
            return
        if not await throttled_login(throttle, ip, name, user is not None, log) or user is None:
            self.conn.auth_failed()
            return
        self.conn.authenticated(user)


class ManageSieveListener:
    """One ManageSieve listener: `start` it on an address or a bound socket, `close` it."""

    def __init__(self, ctx: ManageSieveContext) -> None:
        self.ctx = ctx
        self.server: asyncio.Server | None = None

    async def start(self, host: str | None = None, port: int = 4190, *,
                    sock: socket.socket | None = None) -> asyncio.Server:
        """Listen on `host`:`port`, or on `sock` (a bound, listening socket) when given."""
        loop = asyncio.get_running_loop()

        def factory() -> ManageSieveSession:
            return ManageSieveSession(self.ctx)
        if sock is not None:
            self.server = await loop.create_server(factory, sock=sock)
        else:
            self.server = await loop.create_server(factory, host, port)
        return self.server

    async def close(self) -> None:
        """Stop accepting and drop every open session (scripts are written at once, so no
        session has anything in flight worth waiting for)."""
        if self.server is not None:
            self.server.close()
        for session in list(self.ctx.sessions):
            session.abort()
        if self.server is not None:
            await self.server.wait_closed()


async def serve_managesieve(
    host: str | None,
    port: int,
    *,
    store: ScriptStore,
    authenticate: Authenticator,
    tls_context: ssl.SSLContext | None,
    config: ServerConfig | None = None,
    offload: Offload = asyncio.to_thread,
    idle_timeout: float = 600.0,
    throttle: AuthThrottle | None = None,
    limiter: ConnectionLimiter | None = None,
    sock: socket.socket | None = None,
    plaintext_auth: str = "never",
) -> ManageSieveListener:
    """A started listener; STARTTLS is offered exactly when `tls_context` is given."""
    core = replace(config or ServerConfig(), tls_available=tls_context is not None)
    ctx = ManageSieveContext(store, authenticate, tls_context, core, offload, idle_timeout,
                             throttle=throttle, limiter=limiter, plaintext_auth=plaintext_auth)
    listener = ManageSieveListener(ctx)
    await listener.start(host, port, sock=sock)
    return listener
