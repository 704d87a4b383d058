"""asyncio adapter around the IMAP connection core: sockets, TLS, COMPRESS, IDLE, timeouts.

One `ImapSession` per connection. The core (proto/imap/server.py) frames commands and answers
what needs no mailbox; mailbox commands run in `access.imap.ImapService` on the store threads,
one at a time per session. `FolderWatcher` tells IDLE sessions (and sessions between commands)
that a folder changed: at once for changes made in this process, and within `interval`
seconds for changes made elsewhere (other workers, delivery), by polling the folders' heads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from postoffice.access.imap import ImapService
from postoffice.credentials import verify_password
from postoffice.proto.imap import responses as r
from postoffice.proto.imap import server as core
from postoffice.proto.imap.events import NEED_DATA, NeedData
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.store_threads import StoreThreads
from postoffice.storage.interfaces import Store

log = logging.getLogger("postoffice.imap")

READ_HIGH_WATER = 1024 * 1024
"""Stop reading from a client that is this far ahead of our answers (pipelined commands)."""


class FolderWatcher:
    """Wakes the sessions watching a folder when it changes."""

    def __init__(self, threads: StoreThreads, interval: float = 0.25) -> None:
        self._threads = threads
        self.interval = interval
        self._watchers: dict[int, set[asyncio.Event]] = {}
        self._heads: dict[int, tuple[int, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def watch(self, folder_id: int, event: asyncio.Event) -> None:
        self._watchers.setdefault(folder_id, set()).add(event)

    def unwatch(self, folder_id: int, event: asyncio.Event) -> None:
        events = self._watchers.get(folder_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._watchers[folder_id]
                self._heads.pop(folder_id, None)

    def touch(self, folder_id: int) -> None:
        """A session of this process changed the folder (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake, folder_id)

    def _wake(self, folder_id: int) -> None:
        for event in self._watchers.get(folder_id, ()):
            event.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            ids = list(self._watchers)
            if not ids:
                continue
            try:
                heads = await self._threads.run(_heads, ids)
            except Exception:
                log.exception("polling folders failed")
                continue
            for folder_id, head in heads.items():
                if self._heads.get(folder_id) != head:  # the first look wakes once, harmlessly
                    self._wake(folder_id)
                self._heads[folder_id] = head


@dataclass(frozen=True)
class ImapListener:
    """Shared by every session of one listener."""

    name: str
    """"imap" or "imaps"."""
    config: core.ImapConfig
    threads: StoreThreads
    watcher: FolderWatcher
    limiter: ConnectionLimiter
    throttle: AuthThrottle
    lookup_password_hash: Callable[[str], Awaitable[str | None]]
    tls_context: ssl.SSLContext | None
    idle_timeout: float = 30 * 60
    """Autologout after this long without a command (RFC 9051 5.4: at least 30 minutes)."""
    login_timeout: float = 60.0
    """Before authentication, a shorter wait."""
    loopback_plaintext: bool = False
    """Allow logins without TLS from loopback clients ([imap] plaintext_auth = "loopback")."""


class ImapSession(asyncio.Protocol):
    def __init__(self, ctx: ImapListener, sessions: set[ImapSession]) -> None:
        self.ctx = ctx
        self._sessions = sessions
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._paused = False
        self._buffered = 0
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        self.conn = core.ImapConnection(ctx.config)
        self.client_ip = ""
        self.service: ImapService | None = None
        self._news = asyncio.Event()
        self._watched: int | None = None
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("0.0.0.0", 0)
        self.client_ip = str(peer[0])
        if self.ctx.loopback_plaintext and _is_loopback(self.client_ip):
            self.conn = core.ImapConnection(dataclasses.replace(self.ctx.config,
                                                                plaintext_auth=True))
        self._sessions.add(self)
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.abort()
                return
        self.conn.receive_data(data)
        self._buffered += len(data)
        if self._buffered > READ_HIGH_WATER and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.conn.receive_eof()
        self._wake()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def drain(self) -> None:
        """Shutdown: say BYE and close at the next chance."""
        self._write(r.untagged_status("BYE", "Server shutting down"))
        self.abort()

    # -- output ------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not data or self._closed or self._transport is None:
            return
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self._transport.write(data)

    def _flush(self) -> None:
        self._write(self.conn.data_to_send())

    # -- the session -------------------------------------------------------------------------------

    async def _run(self) -> None:
        refusal = self.ctx.limiter.acquire(self.client_ip)
        try:
            if refusal is not None:
                self._write(r.untagged_status("BYE", "Too many connections, try again later"))
                return
            await self._serve()
        except Exception:
            log.exception("IMAP session with %s failed", self.client_ip)
            self._write(r.untagged_status("BYE", "Internal error, closing connection"))
        finally:
            if refusal is None:
                self.ctx.limiter.release(self.client_ip)
            self._watch(None)
            self._sessions.discard(self)
            if self._transport is not None and not self._closed:
                self._transport.close()

    async def _serve(self) -> None:
        conn = self.conn
        conn.greet()
        while True:
            event = conn.next_event()
            if event is NEED_DATA or isinstance(event, NeedData):
                self._flush()
                if self._closed:
                    return
                if not await self._wait():
                    self._write(r.untagged_status("BYE", "Autologout; idle for too long"))
                    return
                if conn.idling and self._news.is_set():
                    await self._send_news()
                continue
            if isinstance(event, core.Closed):
                self._flush()
                return
            if isinstance(event, core.Credentials):
                await self._authenticate(event)
            elif isinstance(event, core.StartTls):
                self._flush()
                if not await self._start_tls():
                    return
                conn.tls_started()
            elif isinstance(event, core.Compress):
                self._flush()
                self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
                self._inflate = zlib.decompressobj(-15)
            elif isinstance(event, core.Execute):
                await self._execute(event)
            elif isinstance(event, core.IdleDone):
                service = self.service
                assert service is not None
                self._news.clear()
                conn.send(await self.ctx.threads.run(service.idle_done, event.tag))
                conn.done()

    async def _wait(self) -> bool:
        """Wait for input (or, while idling, for news); False on timeout."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        self._buffered = 0
        timeout = self.ctx.idle_timeout if self.service is not None else self.ctx.login_timeout
        self._waiter = self._loop.create_future()
        waiters: list[asyncio.Future[object]] = [cast("asyncio.Future[object]", self._waiter)]
        news: asyncio.Task[bool] | None = None
        if self.conn.idling:
            news = self._loop.create_task(self._news.wait())
            waiters.append(cast("asyncio.Future[object]", news))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            return bool(done)
        finally:
            if news is not None:
                news.cancel()
            self._waiter = None

    async def _send_news(self) -> None:
        assert self.service is not None
        self._news.clear()
        self._write(await self.ctx.threads.run(self.service.poll))

    def _watch(self, folder_id: int | None) -> None:
        if self._watched == folder_id:
            return
        if self._watched is not None:
            self.ctx.watcher.unwatch(self._watched, self._news)
        self._watched = folder_id
        if folder_id is not None:
            self.ctx.watcher.watch(folder_id, self._news)

    async def _execute(self, event: core.Execute) -> None:
        service = self.service
        assert service is not None
        conn = self.conn
        outcome = await self.ctx.threads.run(service.execute, event.command,
                                             frozenset(conn.enabled))
        conn.enabled |= service.enabled
        if outcome.selected is True:
            conn.selected(outcome.read_only)
        elif outcome.selected is False:
            conn.unselected()
        self._watch(service.selected_folder)
        conn.send(outcome.data)
        if outcome.idle:
            self._news.clear()
            conn.start_idle(event.command.tag)
        else:
            conn.done()

    async def _authenticate(self, event: core.Credentials) -> None:
        throttle = self.ctx.throttle
        user = event.username
        try:
            stored = await self.ctx.lookup_password_hash(user)
        except Exception:
            log.exception("password lookup failed")
            self.conn.authenticated(event.tag, False, temporary=True)
            return
        ok = (stored is not None
              and (not event.authzid or event.authzid.lower() == user.lower())
              and await self._loop.run_in_executor(None, verify_password, event.password,
                                                   stored))
        if not ok:
            throttle.failed(self.client_ip, user)
            log.info("IMAP login failed for %r from %s", user, self.client_ip)
            await asyncio.sleep(throttle.delay(self.client_ip, user))
            self.conn.authenticated(event.tag, False)
            return
        throttle.succeeded(self.client_ip, user)
        address = user.lower()
        self.service = ImapService(address, notify=self.ctx.watcher.touch)
        self.conn.authenticated(event.tag, True, address)

    async def _start_tls(self) -> bool:
        assert self._transport is not None and self.ctx.tls_context is not None
        try:
            transport = await self._loop.start_tls(self._transport, self, self.ctx.tls_context,
                                                   server_side=True, ssl_handshake_timeout=60.0)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("TLS handshake with %s failed: %s", self.client_ip, exc)
            self._closed = True
            return False
        if transport is None:
            self._closed = True
            return False
        self._transport = transport
        return True


async def start_imap(ctx: ImapListener, sessions: set[ImapSession],
                     sock: socket.socket) -> asyncio.Server:
    """Serve `ctx` on a bound, listening socket; implicit TLS when ctx.config says so."""
    loop = asyncio.get_running_loop()
    tls = ctx.tls_context if ctx.config.implicit_tls else None
    return await loop.create_server(lambda: ImapSession(ctx, sessions), sock=sock, ssl=tls)



def _heads(store: Store, ids: list[int]) -> dict[int, tuple[int, int]]:
    return store.folder_heads(ids)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False
