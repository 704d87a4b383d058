"""Composition root: builds the store, services and listeners, and runs their lifecycle.

`serve()` binds every listening socket in the parent process (so port 0 resolves once and
`run/listeners.json` is written before any client is accepted), then forks the processes:
`[server] workers` listener workers and `[delivery] processes` delivery processes, each with
its own store connection and group committer (SQLite serialises their commits). A listener
worker owns one SO_REUSEPORT socket per listener, so the kernel spreads connections evenly
across workers; a delivery process runs one delivery engine (leases keep engines off each
other's items). Listener workers wake the engines through a shared pipe when they queue relay
mail. With one worker and `[delivery] processes = 0` everything runs in this one process."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime
import fcntl
import functools
import gc
import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postoffice.access.index_cache import FolderIndexCache
from postoffice.access.index_snapshots import SnapshotDir
from postoffice.api import ApiContext, create_app
from postoffice.api.render_pool import RenderPool
from postoffice.auth.dkim.sign import SigningKey
from postoffice.auth.dns import Flow
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.credentials import LOGINS
from postoffice.errors import PostofficeError
from postoffice.mta import retention, verp_keys, webhooks
from postoffice.mta.bimi_logos import LogoFetcher
from postoffice.mta.delivery_policy import publish_settings
from postoffice.mta.dkim import Keyring
from postoffice.mta.dns import Resolver, ResolverConfig, run_async
from postoffice.mta.engine import DeliveryEngine, capture_mailbox
from postoffice.mta.mta_sts import MtaSts
from postoffice.mta.personalize import Personalizer, TrackingLinks
from postoffice.mta.routes import Router
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.forwarding import Forwarding, srs_secret
from postoffice.pipeline.greylisting import Greylisting
from postoffice.pipeline.inbound import InboundChecks
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.unsubscribe import Unsubscribes
from postoffice.pipeline.verp import ReturnPaths
from postoffice.policy import published
from postoffice.policy.tracking import tracking_secret
from postoffice.proto.imap.server import ImapConfig
from postoffice.proto.smtp.server import ServerConfig
from postoffice.server import logs
from postoffice.server.http import HttpListener
from postoffice.server.imap import FolderWatcher, ImapListener, ImapSession, start_imap
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.managesieve import ManageSieveListener, serve_managesieve
from postoffice.server.pop3 import Pop3Listener, Pop3Session, start_pop3_server
from postoffice.server.pop3_maildrop import Maildrops, lock_dir
from postoffice.server.sieve_scripts import SieveScripts, StoreOffload
from postoffice.server.sieve_scripts import authenticate as sieve_login
from postoffice.server.smtp import ListenerContext, SmtpSession
from postoffice.server.store_threads import StoreThreads
from postoffice.server.tls import server_context
from postoffice.storage import open_store
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import Store, User
from postoffice.storage.sqlite.changes import ChangeCounter
from postoffice.storage.sqlite.checkpoint import Checkpointer

log = logging.getLogger("postoffice")

SMTP_LISTENERS = ("smtp", "submission", "submissions")
IMAP_LISTENERS = ("imap", "imaps")
POP3_LISTENERS = ("pop3", "pop3s")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
TLS_MODE = {"smtp": "starttls", "submission": "starttls", "submissions": "implicit", "http": "none",
            "imap": "starttls", "imaps": "implicit", "pop3": "starttls", "pop3s": "implicit",
            "managesieve": "starttls"}


@dataclass(frozen=True)
class BoundListener:
    name: str
    host: str
    port: int
    sockets: tuple[socket.socket, ...]
    """One per worker (SO_REUSEPORT group)."""


def bind_listeners(config: Config, workers: int) -> list[BoundListener]:
    bound: list[BoundListener] = []
    for name, (host, port) in config.listener_addresses().items():
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socks: list[socket.socket] = []
        for _ in range(workers):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if workers > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                for s in socks + [sock]:
                    s.close()
                for b in bound:
                    for s in b.sockets:
                        s.close()
                raise OSError(f"cannot listen on {host}:{port} for {name}: {exc.strerror}") from exc
            port = sock.getsockname()[1]
            sock.listen(1024)
            sock.setblocking(False)
            socks.append(sock)
        bound.append(BoundListener(name, host, port, tuple(socks)))
    return bound


def write_listeners_file(config: Config, bound: list[BoundListener]) -> Path:
    run_dir = config.data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "pid": os.getpid(),
        "listeners": {
            b.name: {"host": b.host, "port": b.port, "tls": TLS_MODE.get(b.name, "none")}
            for b in bound
        },
    }
    path = run_dir / "listeners.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(path)
    return path


def core_config(config: Config, name: str, tls_available: bool) -> ServerConfig:
    smtp = config.smtp
    submission = name != "smtp"
    return ServerConfig(
        hostname=config.server.hostname,
        max_message_size=smtp.max_message_size,
        max_recipients=smtp.max_recipients,
        max_command_line=smtp.max_command_line,
        max_errors=smtp.max_errors,
        tls_available=tls_available and name != "submissions",
        secure=name == "submissions",
        require_auth=submission,
        # The MX takes mail for local domains only; logins belong on the submission ports.
        auth_mechanisms=("PLAIN", "LOGIN") if submission else (),
        vrfy_enabled=smtp.vrfy,
        bare_newline="normalize" if smtp.bare_newline == "normalize" else "reject",
    )


@dataclass(frozen=True)
class Role:
    """What one process runs: listeners on its sockets (`index` into each listener's sockets),
    a delivery engine, or both (a single-process server)."""

    index: int
    listen: bool = True
    deliver: bool = False

    @property
    def name(self) -> str:
        return f"{'worker' if self.listen else 'delivery'} {self.index}"


def plan_roles(config: Config) -> list[Role]:
    """The processes `serve` runs: listener workers, then delivery processes. Without delivery
    processes (`[delivery] processes = 0`) the first worker runs the engine itself."""
    workers = config.server.workers or os.cpu_count() or 1
    engines = 0 if config.delivery.paused else config.delivery.processes
    roles = [Role(i, deliver=i == 0 and engines == 0 and not config.delivery.paused)
             for i in range(workers)]
    return roles + [Role(i, listen=False, deliver=True) for i in range(engines)]


def runs_webhooks(config: Config, role: Role) -> bool:
    """Whether this process runs the install's one webhook dispatcher: the first delivery
    process, or the first worker while delivery is paused (events still happen then)."""
    if not config.webhooks.enabled:
        return False
    if config.delivery.paused:
        return role.listen and role.index == 0
    return role.deliver and role.index == 0


def runs_retention(config: Config, role: Role) -> bool:
    """Whether this process runs the install's one retention job: the process of the webhook
    dispatcher (the first delivery process, or the first worker while delivery is paused)."""
    if config.retention.interval <= 0:
        return False
    if config.delivery.paused:
        return role.listen and role.index == 0
    return role.deliver and role.index == 0


class WakePipe:
    """Listener workers tell delivery engines in other processes that mail was queued: one
    byte per loop turn down a shared non-blocking pipe. A full pipe already holds a wake-up."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pending = False

    def notifier(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        def flush() -> None:
            self._pending = False
            with contextlib.suppress(BlockingIOError):
                os.write(self.write_fd, b"\x01")

        def notify() -> None:
            if not self._pending:
                self._pending = True
                loop.call_soon(flush)

        return notify

    def listen(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        def readable() -> None:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.read_fd, 4096):
                    pass
            wake()  # also when another engine took the bytes: a look costs one query

        loop.add_reader(self.read_fd, readable)


class Worker:
    """Everything one process runs: servers on inherited sockets, committer, sessions, and the
    delivery engine where its role says so."""

    def __init__(
        self, config: Config, bound: list[BoundListener], role: Role, wake: WakePipe | None = None
    ) -> None:
        self.config = config
        self.bound = bound if role.listen else []
        self.index = role.index
        self.role = role
        self.wake = wake
        self.sessions: set[SmtpSession] = set()
        self.imap_sessions: set[ImapSession] = set()
        self.pop3_sessions: set[Pop3Session] = set()
        self.sieve_listeners: list[ManageSieveListener] = []
        self.http_listeners: list[HttpListener] = []
        self._warm_task: asyncio.Task[None] | None = None
        self.store_threads: StoreThreads | None = None
        self.folder_watcher: FolderWatcher | None = None
        self.folder_indexes = FolderIndexCache(
            snapshots=SnapshotDir(config.data_dir / "cache" / "folder-index"))
        self.change_counter: ChangeCounter | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self._stop = asyncio.Event()

    def _tls_context(self) -> ssl.SSLContext | None:
        cert, key = self.config.path(self.config.tls.cert), self.config.path(self.config.tls.key)
        if not (cert.exists() and key.exists()):
            log.warning("no TLS certificate at %s: STARTTLS and implicit TLS are off", cert)
            return None
        return server_context(cert, key)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        data_dir = config.data_dir
        checkpointer = Checkpointer(data_dir)
        checkpointer.start()
        committer = GroupCommitter(lambda: open_store(data_dir))
        committer.start()
        blobs = committer.blobs
        directory = DirectoryCache(lambda method, *args: committer.run(_call, method, *args))
        install_key = verp_keys.load_or_create(data_dir)
        verp = ReturnPaths(
            install_key, is_local_domain=directory.is_local_domain,
            mailbox=lambda: committer.run(capture_mailbox, config.delivery.bounce_mailbox),
        )
        checks = None
        if self.role.listen and config.inbound.checks:
            resolver = Resolver(ResolverConfig(nameservers=config.dns.nameservers,
                                               lifetime=config.dns.timeout))
            logos = LogoFetcher(resolver, clock=SYSTEM_CLOCK)
            checks = InboundChecks(settings=config.inbound, authserv_id=config.server.hostname,
                                   run=functools.partial(_run_flow, resolver), clock=SYSTEM_CLOCK,
                                   fetch_logo=logos.fetch)
        greylist = None
        if self.role.listen and config.inbound.greylist_domains:
            greylist = Greylisting(settings=config.inbound, run=committer.run, clock=SYSTEM_CLOCK)
        intake = Intake(
            config=config, clock=SYSTEM_CLOCK, blobs=blobs, directory=directory,
            commit=committer.commit, verp=verp, checks=checks, greylist=greylist,
            forwarding=Forwarding(srs_secret(install_key), authserv_id=config.server.hostname,
                                  key_for=_rsa_key(Keyring(data_dir)), clock=SYSTEM_CLOCK),
            unsubscribe=Unsubscribes(install_key, config.unsubscribe,
                                     hostname=config.server.hostname, call=directory.call,
                                     clock=SYSTEM_CLOCK,
                                     is_local_domain=directory.is_local_domain),
        )
        limiter = ConnectionLimiter(config.smtp.max_connections, config.smtp.max_connections_per_ip)
        a = config.auth
        throttle = AuthThrottle(a.failure_delay, a.failure_delay_max, a.failure_window)
        LOGINS.configure(a.login_cache_ttl)
        tls_context = self._tls_context() if self.role.listen else None

        async def password_hash(address: str) -> str | None:
            # Not cached: a changed or removed password stops working at once.
            user = await committer.run(_call, "get_user", address.lower())
            return user.password_hash if isinstance(user, User) else None

        singles: GroupCommitter | None = None
        render_pool: RenderPool | None = None
        for b in self.bound:
            sock = b.sockets[self.index]
            if b.name == "http":
                # Single sends commit on a committer of their own: they wait for the batch
                # transaction holding the writer lock at most, not for a batch's whole turn.
                singles = GroupCommitter(lambda: open_store(data_dir, urgent=True))
                singles.start()
                if config.server.render_processes and render_pool is None:
                    render_pool = RenderPool(config.server.render_processes)
                    try:
                        render_pool.start()
                    except OSError as exc:  # no processes here: batches are made on the loop
                        log.warning("render processes not started (%s): API batches are"
                                    " made on the event loop", exc)
                        render_pool = None
                # The API's lookups and small writes on the store threads: a single send
                # never waits behind a group commit in progress for them. A single send's
                # own lookups go to its committer's thread, which batch calls do not use.
                api = ApiContext(
                    run=self._threads().run, intake=intake, clock=SYSTEM_CLOCK,
                    hostname=config.server.hostname,
                    mta_sts_policy=published.mta_sts_policy(publish_settings(config, "")),
                    on_domain_added=_dkim_keys(data_dir),
                    tracking_secret=tracking_secret(install_key),
                    unsubscribe=intake.unsubscribe, render_pool=render_pool,
                    run_urgent=singles.run,
                    commit_many=committer.commit_many, commit_one=singles.commit)
                http_listener = HttpListener(create_app(api))
                self.http_listeners.append(http_listener)
                server = await http_listener.start(sock)
            elif b.name in SMTP_LISTENERS:
                implicit = b.name == "submissions"
                if implicit and tls_context is None:
                    log.warning("submissions listener disabled: no TLS certificate")
                    continue
                ctx = ListenerContext(
                    name=b.name,
                    core_config=core_config(config, b.name, tls_context is not None),
                    intake=intake,
                    limiter=limiter,
                    throttle=throttle,
                    lookup_password_hash=password_hash,
                    tls_context=tls_context,
                    command_timeout=config.smtp.command_timeout,
                    data_timeout=config.smtp.data_timeout,
                    session_timeout=config.smtp.transaction_timeout,
                    implicit_tls=implicit,
                )
                server = await loop.create_server(
                    _session_factory(ctx, self.sessions),
                    sock=sock,
                    ssl=tls_context if implicit else None,
                    ssl_handshake_timeout=30.0 if implicit else None,
                )
            elif b.name in IMAP_LISTENERS:
                implicit = b.name == "imaps"
                if implicit and tls_context is None:
                    log.warning("imaps listener disabled: no TLS certificate")
                    continue
                server = await start_imap(self._imap_context(b.name, tls_context, throttle,
                                                             password_hash),
                                          self.imap_sessions, sock)
            elif b.name in POP3_LISTENERS:
                implicit = b.name == "pop3s"
                if implicit and tls_context is None:
                    log.warning("pop3s listener disabled: no TLS certificate")
                    continue
                pop3 = config.pop3
                listener = Pop3Listener(
                    b.name, Maildrops(self._threads(), lock_dir(data_dir),
                                      self._change_counter().current),
                    ConnectionLimiter(pop3.max_connections, pop3.max_connections_per_ip),
                    throttle, tls_context, implicit_tls=implicit,
                    plaintext_auth=pop3.plaintext_auth, idle_timeout=pop3.idle_timeout,
                    hostname=config.server.hostname)
                server = await start_pop3_server(listener, sock=sock, sessions=self.pop3_sessions)
            elif b.name == "managesieve":
                sieve = await serve_managesieve(
                    None, 0, sock=sock, store=SieveScripts(), authenticate=sieve_login,
                    tls_context=tls_context, offload=StoreOffload(self._threads()),
                    throttle=throttle,
                    plaintext_auth=config.imap.plaintext_auth,
                    limiter=ConnectionLimiter(config.imap.max_connections,
                                              config.imap.max_connections_per_ip))
                self.sieve_listeners.append(sieve)
                continue
            else:
                continue
            self.servers.append(server)
        if self.index == 0 and any(b.name in IMAP_LISTENERS for b in self.bound):
            self._warm_task = loop.create_task(self._warm_indexes())
        engine = None
        if config.delivery.paused and self.role.listen and self.index == 0:
            log.warning("outbound delivery is paused ([delivery] paused = true)")
        if self.role.deliver:
            engine = delivery_engine(config, committer, intake)
            intake.on_queued = engine.wake
            if self.wake is not None:
                self.wake.listen(loop, engine.wake)
            engine_task = loop.create_task(engine.run())
        elif self.wake is not None:
            intake.on_queued = self.wake.notifier(loop)
        stop_webhooks = None
        if runs_webhooks(config, self.role):
            stop_webhooks = webhooks.start(config.webhooks, lambda: open_store(data_dir),
                                           SYSTEM_CLOCK)
        stop_retention = None
        if runs_retention(config, self.role):
            stop_retention = retention.start(config.retention, lambda: open_store(data_dir),
                                             SYSTEM_CLOCK)
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._stop.set)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by serve() until now
        # What start-up made (modules, the application, its schemas) lives as long as the
        # process: out of the collector's reach, a full collection looks at the objects of
        # the requests alone and takes a few milliseconds instead of tens.
        # Young collections are rarer too (20,000 allocations apart, not 700): a batch call
        # makes some millions of objects, nearly all freed by reference counting, and each
        # collection walks the live objects of every call in flight.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG, 10, 10)
        await self._stop.wait()
        await self.shutdown()
        if engine is not None:
            await engine.stop(grace=self.config.server.shutdown_grace)
            engine_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await engine_task
        if stop_webhooks is not None:
            await stop_webhooks(min(5.0, self.config.server.shutdown_grace))
        if stop_retention is not None:
            await stop_retention()
        if singles is not None:
            await singles.close()
        if render_pool is not None:
            await asyncio.to_thread(render_pool.close)
        await committer.close()
        checkpointer.stop()

    def _threads(self) -> StoreThreads:
        """The store threads of the mailbox listeners (IMAP, POP3), made on first use."""
        if self.store_threads is None:
            data_dir = self.config.data_dir
            self.store_threads = StoreThreads(lambda: open_store(data_dir))
        return self.store_threads

    def _imap_context(self, name: str, tls_context: ssl.SSLContext | None,
                      throttle: AuthThrottle,
                      password_hash: Callable[[str], Awaitable[str | None]]) -> ImapListener:
        settings = self.config.imap
        if self.folder_watcher is None:
            self.folder_watcher = FolderWatcher(self._threads(), settings.poll_interval)
            self.folder_watcher.start()
        core = ImapConfig(
            hostname=self.config.server.hostname, tls_available=tls_context is not None,
            implicit_tls=name == "imaps",
            max_line=settings.max_line, max_literal=settings.append_limit,
            max_literal_unauthenticated=settings.max_literal_unauthenticated)
        return ImapListener(
            name, core, self._threads(), self.folder_watcher,
            ConnectionLimiter(settings.max_connections, settings.max_connections_per_ip),
            throttle, password_hash, tls_context, idle_timeout=settings.idle_timeout,
            indexes=self.folder_indexes,
            plaintext_auth=settings.plaintext_auth, changes=self._change_counter().current)

    async def _warm_indexes(self) -> None:
        """Snapshots of large folders' indexes, so their first SELECT reads a file."""
        try:
            await self._threads().run(self.folder_indexes.warm)
        except Exception:  # a cache: failing to make it changes nothing else
            log.exception("making folder index snapshots failed")

    def _change_counter(self) -> ChangeCounter:
        """One per process, read on the event loop (see storage/sqlite/changes.py)."""
        if self.change_counter is None:
            self.change_counter = ChangeCounter(self.config.data_dir)
        return self.change_counter

    async def shutdown(self) -> None:
        """Stop accepting, let in-flight transactions finish (up to the grace period)."""
        for server in self.servers:
            server.close()
        for imap in list(self.imap_sessions):
            imap.drain()
        for pop3 in list(self.pop3_sessions):
            pop3.drain()
        for sieve in self.sieve_listeners:
            await sieve.close()
        for http in self.http_listeners:
            await http.close(grace=min(5.0, self.config.server.shutdown_grace))
        if self.folder_watcher is not None:
            await self.folder_watcher.stop()
        for session in list(self.sessions):
            session.drain()
        deadline = asyncio.get_running_loop().time() + self.config.server.shutdown_grace
        while self.sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.abort()
        for pop3 in list(self.pop3_sessions):
            pop3.abort()


def delivery_engine(config: Config, committer: GroupCommitter, intake: Intake) -> DeliveryEngine:
    """The engine with its resolver and router as the configuration asks."""
    resolver = Resolver(ResolverConfig(nameservers=config.dns.nameservers,
                                       lifetime=config.dns.timeout))
    signer = Keyring(config.data_dir).signer(SYSTEM_CLOCK)
    sts = (MtaSts(resolver, cache_dir=config.data_dir / "cache" / "mta-sts")
           if config.delivery.mta_sts else None)
    links = TrackingLinks.from_config(config, verp_keys.load_or_create(config.data_dir))
    return DeliveryEngine(config=config, run=committer.run, intake=intake, router=Router(resolver),
                          signer=signer, verp=intake.verp, mta_sts=sts,
                          personalizer=Personalizer(links), unsubscribe=intake.unsubscribe)


async def _run_flow(resolver: Resolver, flow: Flow[Any]) -> Any:
    return await run_async(flow, resolver)


def _rsa_key(keyring: Keyring) -> Callable[[str], SigningKey | None]:
    """A domain's active RSA key (ARC seals use RSA: the widest support), None without one."""
    def key_for(domain: str) -> SigningKey | None:
        return next((k for k in keyring.active(domain) if k.algorithm == "rsa-sha256"), None)
    return key_for


def _dkim_keys(data_dir: Path) -> Callable[[str], object]:
    """Makes the DKIM keys of a domain added through the API."""
    return lambda domain: Keyring(data_dir).create(domain, datetime.date.today())


def _call(store: Store, method: str, *args: object) -> object:
    return getattr(store, method)(*args)


def _session_factory(ctx: ListenerContext, sessions: set[SmtpSession]) -> Callable[[], SmtpSession]:
    return lambda: SmtpSession(ctx, sessions)


def serve(config: Config, on_ready: Callable[[list[BoundListener]], None] | None = None) -> int:
    """Run every listener until SIGTERM/SIGINT; returns the exit status.

    The stop signals stay blocked until a handler is in place (in each worker, once its loop
    runs), so a SIGTERM during startup is not lost and still stops the server cleanly."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    lock = _lock_data_dir(config.data_dir)
    try:
        open_store(config.data_dir).close()  # migrations, stale temporary files
        roles = plan_roles(config)
        bound = bind_listeners(config, sum(r.listen for r in roles))
        write_listeners_file(config, bound)
        if on_ready is not None:
            on_ready(bound)
        try:
            if len(roles) == 1:
                _run_loop(Worker(config, bound, roles[0]).run())
                return 0
            wake = WakePipe() if any(r.deliver for r in roles) else None
            return _supervise(config, bound, roles, wake)
        finally:
            with contextlib.suppress(FileNotFoundError):
                (config.data_dir / "run" / "listeners.json").unlink()
            for b in bound:
                for s in b.sockets:
                    s.close()
    finally:
        os.close(lock)


def _lock_data_dir(data_dir: Path) -> int:
    """Hold run/serve.lock for the server's lifetime: one server per data directory."""
    run_dir = data_dir / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise PostofficeError(
            f"{data_dir}: another postoffice serve (pid {holder}) is using this data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (faster sockets), else on asyncio's own loop."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


GC_YOUNG = 20_000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""
RESPAWN_DELAY = 1.0
"""Seconds before a worker that died is started again."""
RESPAWN_LIMIT = 5
"""Deaths within RESPAWN_WINDOW seconds after which the whole server stops (a crash loop)."""
RESPAWN_WINDOW = 60.0


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Be killed when the supervisor dies (kill -9, OOM): no orphan keeps serving on its own."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _spawn(config: Config, bound: list[BoundListener], role: Role, wake: WakePipe | None) -> int:
    parent = os.getpid()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return pid
    code = 0
    try:
        _die_with_parent(parent)
        for sig in STOP_SIGNALS:  # the worker's loop installs its own, then unblocks them
            signal.signal(sig, signal.SIG_DFL)
        for b in bound:
            for i, s in enumerate(b.sockets):
                if i != role.index or not role.listen:
                    s.close()
        _run_loop(Worker(config, bound, role, wake).run())
    except BaseException:
        log.exception("%s failed", role.name)
        code = 1
    finally:
        logs.flush()
        sys.stdout.flush()
        os._exit(code)


def _supervise(
    config: Config, bound: list[BoundListener], roles: list[Role], wake: WakePipe | None
) -> int:
    """Fork the processes, restart any that dies, and stop them all on SIGTERM/SIGINT.

    The parent keeps every listening socket open, so a restarted worker takes over the same
    socket (and the connections queued on it) from the one that died."""
    children: dict[int, Role] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for role in roles:
        children[_spawn(config, bound, role, wake)] = role
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    deaths: list[float] = []
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        role = children.pop(pid)
        if stopping:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        now = time.monotonic()
        deaths = [t for t in deaths if now - t < RESPAWN_WINDOW] + [now]
        if len(deaths) > RESPAWN_LIMIT:
            log.error("workers keep dying (%d in %.0f s); stopping", len(deaths), RESPAWN_WINDOW)
            status = 1
            stop(signal.SIGTERM, None)
            continue
        log.error("%s (pid %d) exited with %d; restarting it", role.name, pid, code)
        time.sleep(RESPAWN_DELAY)
        if not stopping:
            children[_spawn(config, bound, role, wake)] = role
    return status
