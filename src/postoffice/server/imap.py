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
import logging
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from postoffice.access.imap import ImapService
from postoffice.access.index_cache import FolderIndexCache
from postoffice.credentials import LOGINS
from postoffice.policy.logins import plaintext_login_allowed
from postoffice.proto.imap import responses as r
from postoffice.proto.imap import server as core
from postoffice.proto.imap.events import NEED_DATA, NeedData
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.store_threads import StoreThreads
from postoffice.server.stream import Goodbye, StreamSession, throttled_login
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
    indexes: FolderIndexCache = dataclasses.field(default_factory=FolderIndexCache)
    """Folder indexes shared by the listener's sessions in this process."""
    plaintext_auth: str = "never"
    """Logins without TLS: "never", "loopback" or "always" (policy/logins.py), decided per
    connection into the core's `plaintext_auth`."""
    handshake_timeout: float = 60.0
    changes: Callable[[], int | None] | None = None
    """The database's change counter (storage/sqlite/changes.py), read on the event loop:
    while it stays where it was before a session's last command on a store thread, the
    session's view is current and flag FETCHes and SEARCHes are answered without the hop."""


class ImapSession(StreamSession):
    log = log
    conn: core.ImapConnection
    read_high_water = READ_HIGH_WATER

    def __init__(self, ctx: ImapListener, sessions: set[ImapSession]) -> None:
        super().__init__(sessions, ctx.limiter)
        self.ctx = ctx
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        self.conn = core.ImapConnection(ctx.config)
        self.service: ImapService | None = None
        self._news = asyncio.Event()
        self._watched: int | None = None
        self._synced: int | None = None
        """The change counter read before the last command that ran on a store thread."""

    def started(self) -> None:
        allowed = plaintext_login_allowed(self.ctx.plaintext_auth, self.client_ip)
        self.conn = core.ImapConnection(dataclasses.replace(self.ctx.config,
                                                            plaintext_auth=allowed))

    def feed(self, data: bytes) -> None:
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.abort()
                return
        self.conn.receive_data(data)

    def goodbye(self, why: Goodbye) -> bytes:
        text = {"busy": "Too many connections, try again later",
                "error": "Internal error, closing connection",
                "timeout": "Autologout; idle for too long"}[why]
        return r.untagged_status("BYE", text)

    def ended(self) -> None:
        self._watch(None)

    def drain(self) -> None:
        """Shutdown: say BYE and close at the next chance."""
        self.write(r.untagged_status("BYE", "Server shutting down"))
        self.abort()

    def write(self, data: bytes) -> None:
        if data and self._deflate is not None and not self.closed:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        super().write(data)

    async def serve(self) -> None:
        conn = self.conn
        conn.greet()
        while True:
            event = conn.next_event()
            if event is NEED_DATA or isinstance(event, NeedData):
                if not await self.flushed(self.ctx.idle_timeout) or self.closed:
                    return
                timeout = self.ctx.idle_timeout if self.service else self.ctx.login_timeout
                news = self._news if conn.idling else None
                if not await self.wait_for_input(timeout, news):
                    self.write(self.goodbye("timeout"))
                    return
                if conn.idling and self._news.is_set():
                    await self._send_news()
                continue
            if isinstance(event, core.Closed):
                await self.flushed(self.ctx.idle_timeout)
                return
            if isinstance(event, core.Credentials):
                await self._authenticate(event)
            elif isinstance(event, core.StartTls):
                self.flush()  # no await: the ClientHello must reach TLS
                assert self.ctx.tls_context is not None
                if not await self.start_tls(self.ctx.tls_context, self.ctx.handshake_timeout):
                    return
                conn.tls_started()
            elif isinstance(event, core.Compress):
                self.flush()
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

    async def _send_news(self) -> None:
        assert self.service is not None
        self._news.clear()
        self.write(await self.ctx.threads.run(self.service.poll))

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
        version = self.ctx.changes() if self.ctx.changes is not None else None
        outcome = None
        if version is not None and version == self._synced:
            outcome = service.answer_from_memory(event.command, frozenset(conn.enabled))
        if outcome is None:
            outcome = await self.ctx.threads.run(service.execute, event.command,
                                                 frozenset(conn.enabled),
                                                 current=version is not None
                                                 and version == self._synced)
            self._synced = version
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
              and (LOGINS.cached(user, event.password, stored)
                   or await self._loop.run_in_executor(None, LOGINS.verify, user,
                                                       event.password, stored)))
        if not await throttled_login(throttle, self.client_ip, user, ok, log):
            self.conn.authenticated(event.tag, False)
            return
        address = user.lower()
        self.service = ImapService(address, indexes=self.ctx.indexes,
                                   notify=self.ctx.watcher.touch)
        self.conn.authenticated(event.tag, True, address)


async def start_imap(ctx: ImapListener, sessions: set[ImapSession],
                     sock: socket.socket) -> asyncio.Server:
    """Serve `ctx` on a bound, listening socket; implicit TLS when ctx.config says so."""
    loop = asyncio.get_running_loop()
    tls = ctx.tls_context if ctx.config.implicit_tls else None
    return await loop.create_server(lambda: ImapSession(ctx, sessions), sock=sock, ssl=tls)



def _heads(store: Store, ids: list[int]) -> dict[int, tuple[int, int]]:
    return store.folder_heads(ids)
