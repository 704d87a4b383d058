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
from typing import Protocol, TypeVar, cast

from postoffice.proto.managesieve import events as ev
from postoffice.proto.managesieve import responses as R
from postoffice.proto.managesieve.server import ServerConfig, ServerConnection
from postoffice.proto.managesieve.store import ScriptStore, perform
from postoffice.server.limits import AuthThrottle, ConnectionLimiter

log = logging.getLogger("postoffice.managesieve")

T = TypeVar("T")
READ_HIGH_WATER = 256 * 1024
"""Stop reading from a client that sends more than this ahead of our responses."""


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
    sessions: set[ManageSieveSession] = field(default_factory=set)


class ManageSieveSession(asyncio.Protocol):
    def __init__(self, ctx: ManageSieveContext) -> None:
        self.ctx = ctx
        self.conn = ServerConnection(ctx.core_config)
        self.client_ip = ""
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._paused = False
        self._buffered = 0
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.client_ip = str(peer[0])
        self.ctx.sessions.add(self)
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.conn.receive_eof()
        self._wake()
        return True  # keep the write side open for the responses still due

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    # -- session coroutine ----------------------------------------------------------------

    def abort(self) -> None:
        """Drop the connection now (shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait_for_input(self) -> bool:
        """Wait for bytes (or close); False on timeout."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._buffered = 0
        self._waiter = self._loop.create_future()
        try:
            await asyncio.wait_for(self._waiter, self.ctx.idle_timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiter = None

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out and not self._closed and self._transport is not None:
            self._transport.write(out)

    def _say(self, response: bytes) -> None:
        """Write a last response the core did not produce (timeouts, errors)."""
        if not self._closed and self._transport is not None:
            self._transport.write(response)

    async def _run(self) -> None:
        limiter = self.ctx.limiter
        refusal = limiter.acquire(self.client_ip) if limiter is not None else None
        try:
            if refusal is not None:
                self._say(R.bye("Too many connections, try again later", "TRYLATER"))
                return
            await self._serve()
        except Exception:
            log.exception("ManageSieve session with %s failed", self.client_ip)
            self._say(R.bye("Internal error, closing connection", "TRYLATER"))
        finally:
            if limiter is not None and refusal is None:
                limiter.release(self.client_ip)
            self.ctx.sessions.discard(self)
            if self._transport is not None and not self._closed:
                self._transport.close()

    async def _serve(self) -> None:
        conn = self.conn
        conn.greet()
        while True:
            event = conn.next_event()
            if event is ev.NEED_DATA:
                self._flush()
                if self._closed:
                    return
                if not await self._wait_for_input():
                    self._say(R.bye("Idle timeout, closing connection"))
                    return
            elif isinstance(event, ev.Closed):
                self._flush()
                return
            elif isinstance(event, ev.Authenticate):
                await self._authenticate(event)
            elif isinstance(event, ev.Request):
                await self._request(event)
            elif isinstance(event, ev.StartTls):
                self._flush()
                if not await self._start_tls():
                    return

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
        if user is None:
            log.info("AUTHENTICATE failed for %r from %s", name, ip)
            if throttle is not None:
                throttle.failed(ip, name)
                await asyncio.sleep(throttle.delay(ip, name))
            self.conn.auth_failed()
            return
        if throttle is not None:
            throttle.succeeded(ip, name)
        self.conn.authenticated(user)

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
) -> ManageSieveListener:
    """A started listener; STARTTLS is offered exactly when `tls_context` is given."""
    core = replace(config or ServerConfig(), tls_available=tls_context is not None)
    ctx = ManageSieveContext(store, authenticate, tls_context, core, offload, idle_timeout,
                             throttle=throttle, limiter=limiter)
    listener = ManageSieveListener(ctx)
    await listener.start(host, port, sock=sock)
    return listener
