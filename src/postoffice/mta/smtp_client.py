"""The asyncio SMTP client: `SmtpClient` drives the sans-I/O core (proto/smtp/client.py) over
one TCP connection, with source-address binding, STARTTLS, timeouts and content streaming.

    client = await SmtpClient.connect("192.0.2.25", 25, helo_name="out1.example.org",
                                      source_address="192.0.2.10", tls="opportunistic")
    result = await client.send(envelope, content)     # bytes or an async iterator of chunks
    result = await client.send(envelope2, content2)   # same session (connection reuse)
    await client.quit()

Nothing the network or the peer does raises out of `connect()` or `send()`: refused
connections, resets, timeouts, TLS failures and "TLS required but not offered" become a
`SessionFailure` (`client.failure`) and, for `send()`, a `TransactionResult` in which every
recipient is "deferred" (4.4.1 connection failed, 4.4.2 lost/timeout, 4.7.5 TLS handshake or
certificate, 4.7.10 TLS required but STARTTLS not offered); the peer's 5xx make "failed".
Timeouts default to RFC 5321 4.5.3.2 (connect: 30 s like Postfix's smtp_connect_timeout).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import cast

from postoffice.message.envelope import Envelope
from postoffice.proto.smtp.client import ClientConfig, ClientConnection, ClientState, TlsMode
from postoffice.proto.smtp.client_content import ContentTraits
from postoffice.proto.smtp.client_events import (
    ClientEvent,
    ContentWanted,
    Extensions,
    Idle,
    SessionClosed,
    TransactionDone,
    UpgradeTls,
)
from postoffice.proto.smtp.client_results import (
    Kind,
    RecipientOutcome,
    SessionFailure,
    Stage,
    TransactionResult,
)
from postoffice.proto.smtp.events import NeedData

__all__ = [
    "Content",
    "Kind",
    "RecipientOutcome",
    "SessionFailure",
    "SmtpClient",
    "Timeouts",
    "TlsMode",
    "TransactionResult",
]

Content = bytes | AsyncIterable[bytes]
"""A message: the whole content, or an async iterator of chunks (from the spool)."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait (RFC 5321 4.5.3.2 defaults; connect as Postfix)."""

    connect: float = 30.0
    """TCP connect."""
    greeting: float = 300.0
    """The 220 banner."""
    command: float = 300.0
    """Each reply to EHLO, STARTTLS (and the handshake), AUTH, MAIL, RCPT, DATA, RSET, QUIT."""
    data_block: float = 180.0
    """Getting one content chunk out (and each BDAT chunk reply)."""
    final_dot: float = 600.0
    """The reply after the end of the content."""

    @classmethod
    def uniform(cls, seconds: float) -> Timeouts:
        """The same limit everywhere (tests)."""
        return cls(seconds, seconds, seconds, seconds, seconds)

    def for_stage(self, stage: Stage) -> float:
        if stage == "greeting":
            return self.greeting
        if stage == "content":
            return self.data_block
        if stage == "final":
            return self.final_dot
        return self.command


_WAITING_FOR = {
    "greeting": "the greeting",
    "content": "a BDAT chunk reply",
    "final": "the reply to the end of the content",
    "tls": "the TLS handshake",
}


class _Wire(asyncio.Protocol):
    """Feeds received bytes straight into the core and wakes the session coroutine."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._gone = asyncio.Event()
        self._waiter: asyncio.Future[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.conn.receive_eof()
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._gone.set()
        self.conn.receive_eof(f"connection lost: {exc}" if exc else "connection closed by peer")
        self._writable.set()
        self._wake()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Until bytes or EOF arrive; False on timeout."""
        if self.lost:
            return True
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            return False
        finally:
            self._waiter = None
        return True

    async def drain(self, timeout: float) -> bool:
        """Until the transport's write buffer is below its high-water mark; False on timeout."""
        if self._writable.is_set():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._writable.wait()
        except TimeoutError:
            return False
        return True

    def write(self, data: bytes) -> None:
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, abort: bool = False) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    async def closed(self, timeout: float) -> None:
        """Close and wait until the transport is gone (a TLS close takes a round trip)."""
        self.close()
        try:
            async with asyncio.timeout(timeout):
                await self._gone.wait()
        except TimeoutError:
            self.close(abort=True)
            await asyncio.sleep(0)  # let the abort run its connection_lost


@functools.lru_cache(maxsize=16)
def _tls_context(mode: TlsMode, cafile: str | None) -> ssl.SSLContext:
    """One context per (mode, cafile), shared by every connection: building one loads the
    system trust store (~20 ms), far more than a whole SMTP transaction."""
    if mode == "verify":
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.create_default_context()  # opportunistic/required: encrypt, do not authenticate
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SmtpClient:
    """One outbound SMTP session; create it with `await SmtpClient.connect(...)`."""

    def __init__(
        self,
        conn: ClientConnection,
        wire: _Wire | None,
        *,
        host: str,
        port: int,
        timeouts: Timeouts,
        chunk_size: int,
        failure: SessionFailure | None = None,
    ) -> None:
        self._conn = conn
        self._wire = wire
        self.host = host
        self.port = port
        self.timeouts = timeouts
        self.chunk_size = chunk_size
        self._failure = failure
        self._lock = asyncio.Lock()
        self._deadline_stage: Stage | None = None
        self._deadline = 0.0
        self._local: tuple[str, int] | None = None
        self._peer: tuple[str, int] | None = None
        self._tls: tuple[str, str] | None = None
        self.tls_failure: str | None = None
        """Why TLS failed when the session fell back to plaintext (tls_fallback_plaintext)."""
        self.messages = 0
        """Transactions attempted on this session."""

    # -- connecting ------------------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int = 25,
        *,
        helo_name: str,
        source_address: str | None = None,
        tls: TlsMode = "opportunistic",
        tls_server_name: str | None = None,
        cafile: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        tls_fallback_plaintext: bool = False,
        auth: tuple[str, str] | None = None,
        auth_requires_tls: bool = True,
        timeouts: Timeouts = Timeouts(),
        pipelining: bool = True,
        chunking: bool = True,
        chunk_size: int = 1 << 16,
    ) -> SmtpClient:
        """Connect, read the greeting, EHLO, STARTTLS and AUTH as configured.

        Never raises for network or peer trouble: check `client.usable` / `client.failure`.
        `source_address` binds the local end (an IP of the chosen pool); `tls_server_name`
        is the SNI and the name the certificate must match with tls="verify" (default: host);
        `cafile` or `ssl_context` replace the system trust store (tests).
        `tls_fallback_plaintext`: with "opportunistic", retry once in plaintext on a new
        connection when the handshake fails (default: defer instead)."""
        config = ClientConfig(
            helo_name=helo_name,
            tls=tls,
            auth=auth,
            auth_requires_tls=auth_requires_tls,
            pipelining=pipelining,
            chunking=chunking,
        )
        conn = ClientConnection(config)
        wire = _Wire(conn)
        loop = asyncio.get_running_loop()
        local_addr = (source_address, 0) if source_address else None
        make = functools.partial(
            cls, conn, host=host, port=port, timeouts=timeouts, chunk_size=chunk_size
        )
        try:
            async with asyncio.timeout(timeouts.connect):
                await loop.create_connection(lambda: wire, host, port, local_addr=local_addr)
        except (OSError, TimeoutError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else _exc_text(exc)
            where = f" from {source_address}" if source_address else ""
            reason = f"connection to {host}:{port}{where} failed: {what}"
            failure = SessionFailure.local(421, "4.4.1", reason, "connect")
            return make(None, failure=failure)
        client = make(wire)
        assert wire.transport is not None
        client._local = _address(wire.transport.get_extra_info("sockname"))
        client._peer = _address(wire.transport.get_extra_info("peername"))
        context = ssl_context or (_tls_context(tls, cafile) if tls != "none" else None)
        while isinstance(await client._event(), UpgradeTls):  # else SessionReady/Closed
            assert context is not None
            error = await client._handshake(context, tls_server_name or host)
            if error is None:
                continue
            if tls == "opportunistic" and tls_fallback_plaintext:
                wire.close(abort=True)
                plain = await cls.connect(
                    host,
                    port,
                    helo_name=helo_name,
                    source_address=source_address,
                    auth=auth,
                    tls="none",
                    auth_requires_tls=auth_requires_tls,
                    timeouts=timeouts,
                    pipelining=pipelining,
                    chunking=chunking,
                    chunk_size=chunk_size,
                )
                plain.tls_failure = error
                return plain
            conn.fail(SessionFailure.local(421, "4.7.5", error, "tls"))
        if conn.state is ClientState.CLOSED:
            client._closed()
        return client

    async def _handshake(self, context: ssl.SSLContext, server_name: str) -> str | None:
        """Upgrade the connection; None when it worked, else why it did not."""
        wire = self._wire
        assert wire is not None and wire.transport is not None
        loop = asyncio.get_running_loop()
        timeout = self.timeouts.command
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    wire.transport,
                    wire,
                    context,
                    server_hostname=server_name,
                    ssl_handshake_timeout=timeout,
                )
        except ssl.SSLCertVerificationError as exc:
            return f"TLS certificate verification failed: {exc.verify_message or exc}"
        except Exception as exc:  # SSLError, OSError, TimeoutError, "transport is closing"
            what = "timed out" if isinstance(exc, TimeoutError) else _exc_text(exc)
            return f"TLS handshake failed: {what}"
        if transport is None:
            return "TLS handshake failed: connection closed"
        wire.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        cipher = ssl_object.cipher() if ssl_object is not None else None
        version = ssl_object.version() if ssl_object is not None else None
        self._tls = (version or "", cipher[0] if cipher else "")
        self._conn.tls_started()
        return None

    # -- properties ------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """True while a transaction can start."""
        return self._conn.state is ClientState.READY and self._failure is None

    def still_open(self) -> bool:
        """After a pause: take in what the peer did meanwhile (hung up, sent a 421), then say
        whether a transaction can start."""
        if not self._lock.locked():
            self._absorb_idle()
        return self.usable

    @property
    def failure(self) -> SessionFailure | None:
        """Why the session failed or ended badly (None while fine, and after a clean QUIT)."""
        return self._failure

    @property
    def extensions(self) -> Extensions:
        """The peer's EHLO extensions (after STARTTLS: the second EHLO's)."""
        return self._conn.extensions

    @property
    def tls_active(self) -> bool:
        return self._conn.secure

    @property
    def tls_version(self) -> str | None:
        """E.g. "TLSv1.3"; None without TLS."""
        return self._tls[0] if self._tls else None

    @property
    def tls_cipher(self) -> str | None:
        """E.g. "TLS_AES_256_GCM_SHA384"; None without TLS."""
        return self._tls[1] if self._tls else None

    @property
    def authenticated(self) -> bool:
        return self._conn.authenticated

    @property
    def local_address(self) -> tuple[str, int] | None:
        return self._local

    @property
    def peer_address(self) -> tuple[str, int] | None:
        return self._peer

    # -- sending ---------------------------------------------------------------------------

    async def send(self, envelope: Envelope, content: Content) -> TransactionResult:
        """Send one message; every recipient gets an outcome. Never raises for network or
        peer trouble (cancellation aborts the connection and propagates)."""
        async with self._lock:
            self.messages += 1
            self._absorb_idle()
            if not self.usable:
                return self._unusable(envelope)
            traits = ContentTraits.of(content) if isinstance(content, bytes) else None
            self._conn.start_transaction(envelope, traits)  # ValueError without recipients
            chunks = _chunks(content, self.chunk_size)
            try:
                return await self._transaction(chunks)
            except BaseException:
                self._abort()
                raise
            finally:
                await _close_iterator(chunks)

    async def _transaction(self, chunks: AsyncIterator[bytes]) -> TransactionResult:
        conn = self._conn
        while True:
            event = await self._event()
            if isinstance(event, ContentWanted):
                try:
                    chunk = await anext(chunks, None)
                except Exception as exc:  # the spool failed us: never end a partial message
                    reason = f"could not read the message content: {_exc_text(exc)}"
                    conn.fail(SessionFailure.local(451, "4.3.0", reason, "content"))
                    self._abort()
                    continue
                if chunk is None:
                    conn.end_content()
                else:
                    conn.send_content(chunk)
                await self._flush_and_drain()
            elif isinstance(event, TransactionDone):
                if conn.state is ClientState.CLOSED:
                    self._closed()
                return event.result
            else:  # pragma: no cover - the core always ends a transaction with TransactionDone
                raise RuntimeError(f"SMTP client core: unexpected {event!r} in a transaction")

    async def quit(self) -> None:
        """QUIT politely (waiting up to the command timeout for 221) and close."""
        async with self._lock:
            self._absorb_idle()
            if self._conn.state is ClientState.READY:
                self._conn.quit()
                while not isinstance(await self._event(), SessionClosed):
                    pass
            self._closed()
            await self._gone()

    async def close(self) -> None:
        """Drop the connection without QUIT."""
        self._abort()
        await self._gone()

    async def _gone(self) -> None:
        if self._wire is not None:
            await self._wire.closed(min(5.0, self.timeouts.command))

    async def __aenter__(self) -> SmtpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.quit()

    # -- plumbing --------------------------------------------------------------------------

    async def _event(self) -> ClientEvent | Idle:
        """The core's next event, waiting for the peer (with the stage's timeout) as needed."""
        conn = self._conn
        loop = asyncio.get_running_loop()
        while True:
            event = conn.next_event()
            if self._wire is not None:
                self._wire.write(conn.data_to_send())
            if not isinstance(event, NeedData):
                self._deadline_stage = None
                return event
            stage = conn.stage
            if stage != self._deadline_stage:
                self._deadline_stage = stage
                self._deadline = loop.time() + self.timeouts.for_stage(stage)
            assert self._wire is not None
            if not await self._wire.wait(max(0.0, self._deadline - loop.time())):
                limit = self.timeouts.for_stage(stage)
                what = _WAITING_FOR.get(stage, f"the reply to {stage.upper()}")
                reason = f"timeout after {limit:g}s waiting for {what}"
                conn.fail(SessionFailure.local(421, "4.4.2", reason, stage))
                self._abort()

    async def _flush_and_drain(self) -> None:
        wire = self._wire
        assert wire is not None
        wire.write(self._conn.data_to_send())
        if not await wire.drain(self.timeouts.data_block):
            limit = self.timeouts.data_block
            reason = f"timeout after {limit:g}s sending the message content"
            self._conn.fail(SessionFailure.local(421, "4.4.2", reason, "content"))
            self._abort()

    def _absorb_idle(self) -> None:
        """Notice what happened while idle (the peer hung up, a 421)."""
        if self._conn.state is ClientState.CLOSED:
            self._closed()
            return
        event = self._conn.next_event()
        if isinstance(event, SessionClosed):
            self._closed()

    def _closed(self) -> None:
        """The core says the session is over: remember why and close the connection."""
        event = self._conn.next_event()
        if isinstance(event, SessionClosed) and event.failure is not None and self._failure is None:
            self._failure = event.failure
        if self._wire is not None:
            self._wire.write(self._conn.data_to_send())
            self._wire.close()

    def _abort(self) -> None:
        if self._wire is not None:
            self._wire.close(abort=True)

    def _unusable(self, envelope: Envelope) -> TransactionResult:
        failure = self._failure or SessionFailure.local(
            421, "4.4.2", "session already closed", "idle"
        )
        outcomes = tuple(failure.outcome(r.address) for r in envelope.recipients)
        return TransactionResult(outcomes, failure.reply)


async def _chunks(content: Content, size: int) -> AsyncIterator[bytes]:
    if isinstance(content, bytes):
        for i in range(0, len(content), size):
            yield content[i : i + size]
        return
    async for chunk in content:
        yield bytes(chunk)


async def _close_iterator(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _address(value: object) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


def _exc_text(exc: BaseException) -> str:
    """"Connection refused" rather than asyncio's "Connect call failed ('192.0.2.1', 25)"."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0 and not isinstance(exc, ssl.SSLError):
        return os.strerror(errno)
    return str(exc) or type(exc).__name__
