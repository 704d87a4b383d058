"""What the IMAP, POP3 and ManageSieve adapters share: one asyncio.Protocol per connection
whose callbacks feed a sans-I/O core and wake a session coroutine.

`StreamSession` keeps the transport, reads with back-pressure (stops reading a client that is
`read_high_water` octets ahead of our answers), lets the coroutine wait for input with a
timeout (input that arrived while it was busy counts: nothing is missed), waits for a client
that stopped reading, upgrades to TLS, and holds a connection-limiter slot for the session.
Subclasses set their core as `conn`, say what the session does (`serve`) and what it says
when it must hang up (`goodbye`); `flush` writes what the core has to send.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, ClassVar, Literal, Protocol, cast

from postoffice.server.limits import AuthThrottle, ConnectionLimiter

Goodbye = Literal["busy", "error", "timeout"]


class Core(Protocol):
    """The sans-I/O side every protocol core offers the adapter."""

    def receive_data(self, data: bytes) -> None: ...
    def receive_eof(self) -> None: ...
    def data_to_send(self) -> bytes: ...


class StreamSession(asyncio.Protocol):
    log: ClassVar[logging.Logger]
    read_high_water: ClassVar[int] = 256 * 1024
    conn: Core
    """The protocol core (set by the subclass)."""

    def __init__(self, sessions: set[Any], limiter: ConnectionLimiter | None) -> None:
        """`sessions`: the listener's live sessions (a set of the subclass)."""
        self._sessions = sessions
        self._limiter = limiter
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._woken = False
        """Input (or close) since the last wait: the core may have more to do."""
        self._writable = asyncio.Event()
        self._writable.set()
        self._paused = False
        self._buffered = 0
        self.closed = False
        self.client_ip = ""
        self._task: asyncio.Task[None] | None = None

    # -- what a protocol supplies ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def feed_eof(self) -> None:
        self.conn.receive_eof()

    async def serve(self) -> None:
        raise NotImplementedError

    def goodbye(self, why: Goodbye) -> bytes:
        """The last line before hanging up: too many connections, an internal error, or
        an idle timeout."""
        raise NotImplementedError

    def ended(self) -> None:
        """The session is over (release what it holds)."""

    # -- asyncio.Protocol callbacks ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.client_ip = str(peer[0])
        self.started()
        self._sessions.add(self)
        self._task = self._loop.create_task(self._run())

    def started(self) -> None:
        """The connection is made and `client_ip` known (before `serve`)."""

    def data_received(self, data: bytes) -> None:
        self.feed(data)
        self._buffered += len(data)
        if self._buffered > self.read_high_water and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool:
        self.feed_eof()
        self.wake()
        # Keep the write side open for the responses still due (TLS cannot half-close).
        return self._transport is None or self._transport.get_extra_info("ssl_object") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._writable.set()
        self.wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- for the session coroutine -----------------------------------------------------------

    def wake(self) -> None:
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait_for_input(self, timeout: float, news: asyncio.Event | None = None) -> bool:
        """Wait for bytes or close (or `news`); False after `timeout` seconds of nothing."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._buffered = 0
        if self._woken or (news is not None and news.is_set()):
            self._woken = False
            return True
        self._waiter = self._loop.create_future()
        waiters: list[asyncio.Future[object]] = [cast("asyncio.Future[object]", self._waiter)]
        news_task: asyncio.Task[bool] | None = None
        if news is not None:
            news_task = self._loop.create_task(news.wait())
            waiters.append(cast("asyncio.Future[object]", news_task))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            self._woken = False
            return bool(done)
        finally:
            if news_task is not None:
                news_task.cancel()
            self._waiter.cancel()
            self._waiter = None

    def flush(self) -> None:
        """Write what the core has to send."""
        self.write(self.conn.data_to_send())

    async def flushed(self, timeout: float) -> bool:
        """Flush, then wait while the client is not reading; False after `timeout`."""
        self.flush()
        return await self.drained(timeout)

    def write(self, data: bytes) -> None:
        """Write now, without waiting for the client to read."""
        if data and not self.closed and self._transport is not None:
            self._transport.write(data)

    async def drained(self, timeout: float) -> bool:
        """False when the client stopped reading our answers for `timeout` seconds."""
        if self._writable.is_set():
            return True
        try:
            await asyncio.wait_for(self._writable.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def start_tls(self, context: ssl.SSLContext, handshake_timeout: float) -> bool:
        """Upgrade the connection (call with nothing awaited since the "go ahead" was
        written: the client's first TLS record must not reach the plaintext core)."""
        assert self._transport is not None
        try:
            transport = await self._loop.start_tls(self._transport, self, context,
                                                   server_side=True,
                                                   ssl_handshake_timeout=handshake_timeout)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            self.log.info("TLS handshake with %s failed: %s", self.client_ip, exc)
            self.closed = True
            return False
        if transport is None:
            self.closed = True
            return False
        self._transport = transport
        return True

    def abort(self) -> None:
        """Drop the connection now."""
        if self._transport is not None:
            self._transport.abort()

    async def _run(self) -> None:
        refusal = self._limiter.acquire(self.client_ip) if self._limiter else None
        try:
            if refusal is not None:
                self.write(self.goodbye("busy"))
                return
            await self.serve()
        except Exception:
            self.log.exception("session with %s failed", self.client_ip)
            self.write(self.goodbye("error"))
        finally:
            if self._limiter is not None and refusal is None:
                self._limiter.release(self.client_ip)
            self.ended()
            self._sessions.discard(self)
            if self._transport is not None and not self.closed:
                self._transport.close()


async def throttled_login(throttle: AuthThrottle | None, ip: str, login: str, ok: bool,
                          log: logging.Logger) -> bool:
    """Record a login attempt; a failure is answered only after the throttle's growing
    delay for this address and this account. Returns `ok`."""
    if throttle is None:
        return ok
    if ok:
        throttle.succeeded(ip, login)
        return True
    throttle.failed(ip, login)
    log.info("login failed for %r from %s", login, ip)
    await asyncio.sleep(throttle.delay(ip, login))
    return False
