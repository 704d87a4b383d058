"""An IMAP listener on a loopback port, in a thread of the test process, over a data
directory of its own: for tests that talk to the server with real clients."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path

from postoffice.credentials import hash_password
from postoffice.proto.imap.server import ImapConfig
from postoffice.server.imap import FolderWatcher, ImapListener, ImapSession, start_imap
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.store_threads import StoreThreads
from postoffice.storage import open_store
from postoffice.storage.sqlite.changes import ChangeCounter


class ImapServerThread:
    def __init__(self, data_dir: Path, users: Mapping[str, str], *, host: str = "127.0.0.1",
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 config: ImapConfig | None = None, poll_interval: float = 0.25,
                 login_timeout: float = 60.0, plaintext_auth: str = "always") -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = 0
        self._users = dict(users)
        self._tls = tls_context
        self._config = config or ImapConfig(tls_available=tls_context is not None,
                                            implicit_tls=implicit_tls)
        self._plaintext_auth = plaintext_auth
        self._interval = poll_interval
        self._login_timeout = login_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.threads = StoreThreads(lambda: open_store(data_dir), threads=2)
        self.watcher = FolderWatcher(self.threads, poll_interval)
        self.sessions: set[ImapSession] = set()
        self.changes = ChangeCounter(data_dir)
        """Read on the server's event loop thread only."""

    def start(self) -> ImapServerThread:
        store = open_store(self.data_dir)
        try:
            for address in self._users:
                domain = address.rpartition("@")[2]
                if not store.is_local_domain(domain):
                    store.add_domain(domain)
                if store.get_user(address) is None:
                    store.add_user(address, hash_password(self._users[address], n=2**10))
        finally:
            store.close()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(sock), self._loop).result(10)
        return self

    async def _start(self, sock: socket.socket) -> None:
        hashes = {a: hash_password(p, n=2**10) for a, p in self._users.items()}

        async def lookup(address: str) -> str | None:
            return hashes.get(address.lower())

        self.watcher.start()
        ctx = ImapListener("imap", self._config, self.threads, self.watcher,
                           ConnectionLimiter(1000, 1000), AuthThrottle(0.05, 0.2, 60.0),
                           lookup, self._tls, login_timeout=self._login_timeout,
                           plaintext_auth=self._plaintext_auth, changes=self.changes.current)
        self._server = await start_imap(ctx, self.sessions, sock)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        await self.watcher.stop()
        self.changes.close()
        if self._server is not None:
            await self._server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
        self.threads.close()

    def __enter__(self) -> ImapServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
