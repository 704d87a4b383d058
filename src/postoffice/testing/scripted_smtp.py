"""A scripted SMTP peer for tests: an asyncio server on loopback in a background thread.

    with ScriptedSmtp(Script(rcpt={"gone@x.test": Reply(550, "5.1.1", "No such user")})) as peer:
        result = asyncio.run(send_one(peer.address))
        session = peer.wait_sessions(1)[0]
        assert session.peer[0] == "127.0.0.2" and session.messages[0].content == b"..."

The protocol is spoken by our own server core (`ServerConnection`), so every peer is a
correct SMTP server; a `Script` only decides the replies and misbehaviour: which extensions
to offer, replies per command or per address, greylisting, refusing EHLO, requiring AUTH,
STARTTLS, sleeping before replies, dropping the connection at a given point. Connection `i`
follows `scripts[i]` when given, else the default script.

Every session is recorded (`Session`): the client's address (to test source binding), a
line per command as the core understood it ("EHLO c.test", "MAIL FROM:<a@x> SIZE=12",
"BDAT 65536", "RESET", "CLOSED quit" ...), TLS and AUTH state, and each accepted message
with its envelope and exact content.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.config import ServerConfig
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.server import ServerConnection

__all__ = ["ALL_EXTENSIONS", "Received", "Script", "ScriptedSmtp", "Session"]

ALL_EXTENSIONS = frozenset(
    {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN"}
)
"""What a script offers by default (STARTTLS and AUTH have their own switches)."""

HOSTNAME = "mx.scripted.test"


@dataclass(frozen=True)
class Script:
    """How the peer behaves on one connection."""

    greeting: Reply = Reply(220, "", f"{HOSTNAME} ESMTP scripted")
    ehlo: Reply | None = None
    """Answer EHLO with this instead (e.g. 502 to force HELO)."""
    offer: frozenset[str] = ALL_EXTENSIONS
    size_limit: int = 0
    """Advertised SIZE limit and enforced content limit (0: none)."""
    starttls: bool = False
    """Offer STARTTLS (a self-signed certificate for HOSTNAME, localhost and 127.0.0.1)."""
    users: dict[str, str] | None = None
    """Require AUTH (PLAIN, LOGIN) with these users and passwords."""
    auth_requires_tls: bool = True
    mail: dict[str, Reply] = field(default_factory=dict)
    """Reply to MAIL FROM per sender address."""
    rcpt: dict[str, Reply | Sequence[Reply]] = field(default_factory=dict)
    """Reply to RCPT TO per address; a sequence gives one reply per attempt on this peer
    (over all connections), the last one repeating."""
    greylist: bool = False
    """Answer 451 4.7.1 to the first RCPT of every (client IP, sender, recipient)."""
    data: Reply | None = None
    """Reply to DATA instead of 354."""
    final: Reply | None = None
    """Reply to the end of the content instead of 250."""
    delay: dict[str, float] = field(default_factory=dict)
    """Seconds to sleep before replying, by step: greeting EHLO STARTTLS AUTH MAIL RCPT DATA
    BDAT FINAL."""
    drop: str | None = None
    """Close the connection without replying at this step (same names as `delay`, plus
    "content": as soon as some message content has arrived)."""


@dataclass(frozen=True)
class Received:
    """One message the peer accepted."""

    mail_from: str
    mail_params: dict[str, str | None]
    recipients: tuple[str, ...]
    rcpt_params: tuple[dict[str, str | None], ...]
    content: bytes
    via: str
    """"DATA" or "BDAT"."""


@dataclass
class Session:
    """What happened on one connection."""

    peer: tuple[str, int]
    commands: list[str] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)
    tls_version: str | None = None
    auth_user: str | None = None
    ended: str | None = None
    """"quit", "eof", "dropped", "error: ..." or "stopped"."""
    done: threading.Event = field(default_factory=threading.Event, repr=False)


class ScriptedSmtp:
    """The peer; a context manager that starts and stops its thread."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        scripts: Sequence[Script] = (),
        host: str = "127.0.0.1",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.script = script or Script()
        self.scripts = list(scripts)
        self.host = host
        self.port = 0
        self.sessions: list[Session] = []
        self.open_sessions = 0
        self.most_open_sessions = 0
        """The most sessions in conversation at the same time so far."""
        self._attempts: dict[str, int] = {}
        self._greylisted: set[tuple[str, str, str]] = set()
        self._counter = itertools.count()
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._tls: ssl.SSLContext | None = tls_context
        """The certificate offered at STARTTLS: given, or a self-signed one made at start."""
        self.cafile: str | None = None
        """The peer's self-signed certificate (trust it to test tls="verify")."""

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedSmtp:
        if self._tls is None and any(s.starttls for s in [self.script, *self.scripts]):
            self._make_certificate()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scripted-smtp")
        self._thread.daemon = True
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = self._thread = None
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> ScriptedSmtp:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _make_certificate(self) -> None:
        from postoffice.server.tls import generate_self_signed, server_context

        self._tmp = tempfile.TemporaryDirectory(prefix="scripted-smtp-")
        cert, key = Path(self._tmp.name) / "cert.pem", Path(self._tmp.name) / "key.pem"
        generate_self_signed(HOSTNAME, cert, key)
        self._tls = server_context(cert, key)
        self.cafile = str(cert)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def hang_up(self) -> None:
        """End every open session without a word (as a peer restarting does); keep listening."""
        assert self._loop is not None
        for task in list(self._tasks):
            self._loop.call_soon_threadsafe(task.cancel)
        deadline = time.monotonic() + 5
        while self.open_sessions and time.monotonic() < deadline:
            time.sleep(0.01)

    # -- inspection ------------------------------------------------------------------------

    def wait_sessions(self, count: int, timeout: float = 5.0) -> list[Session]:
        """The first `count` sessions, once each has ended (AssertionError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.sessions) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.sessions)} sessions, expected {count}")
                self._lock.wait(left)
            sessions = self.sessions[:count]
        for session in sessions:
            if not session.done.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"session from {session.peer} did not end")
        return sessions

    @property
    def messages(self) -> list[Received]:
        """Every message accepted so far, over all sessions."""
        with self._lock:
            return [m for s in self.sessions for m in s.messages]

    # -- one session -----------------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._session(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = next(self._counter)
        script = self.scripts[index] if index < len(self.scripts) else self.script
        peer = writer.get_extra_info("peername")
        session = Session((str(peer[0]), int(peer[1])))
        with self._lock:
            self.sessions.append(session)
            self.open_sessions += 1
            self.most_open_sessions = max(self.most_open_sessions, self.open_sessions)
            self._lock.notify_all()
        try:
            session.ended = await self._converse(script, session, reader, writer)
        except asyncio.CancelledError:
            session.ended = "stopped"
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            session.ended = f"error: {exc}"
        finally:
            with self._lock:  # the conversation is over (QUIT, EOF, dropped)
                self.open_sessions -= 1
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError, ConnectionError, asyncio.CancelledError):
                pass
            session.done.set()

    async def _converse(
        self,
        script: Script,
        session: Session,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> str:
        offer = script.offer
        conn = ServerConnection(
            ServerConfig(
                hostname=HOSTNAME,
                max_message_size=script.size_limit,
                tls_available=script.starttls,
                auth_mechanisms=("PLAIN", "LOGIN") if script.users else (),
                auth_requires_tls=script.auth_requires_tls,
                require_auth=bool(script.users),
                chunking="CHUNKING" in offer,
                smtputf8="SMTPUTF8" in offer,
                dsn="DSN" in offer,
                pipelining="PIPELINING" in offer,
            )
        )
        if script.drop == "greeting":
            return "dropped"
        await self._pause(script, "greeting")
        conn.greet(script.greeting)
        content: list[bytes] = []
        via = "BDAT"
        mail: ev.MailFrom | None = None
        rcpts: list[ev.RcptTo] = []
        while True:
            event = conn.next_event()
            if isinstance(event, ev.NeedData):
                writer.write(conn.data_to_send())
                await writer.drain()
                data = await reader.read(65536)
                if data:
                    conn.receive_data(data)
                else:
                    conn.receive_eof()
                continue
            if not isinstance(event, ev.DataChunk):
                session.commands.append(_describe(event))
            if isinstance(event, ev.Closed):
                writer.write(conn.data_to_send())
                await writer.drain()
                return event.reason
            if isinstance(event, ev.DataChunk):
                content.append(event.data)
                if script.drop == "content":
                    return "dropped"
                continue
            if isinstance(event, ev.Reset | ev.DataRejected):
                content.clear()
                mail, rcpts, via = None, [], "BDAT"
                continue
            step = _STEP.get(type(event))
            if step is None:
                continue
            if script.drop == step:
                writer.write(conn.data_to_send())  # the replies given so far do go out
                await writer.drain()
                return "dropped"
            await self._pause(script, step)
            reply = self._decide(script, conn, session, event, mail)
            conn.send(reply)
            if not reply.positive:
                continue
            if isinstance(event, ev.MailFrom):
                mail, rcpts, via = event, [], "BDAT"
            elif isinstance(event, ev.RcptTo):
                rcpts.append(event)
            elif isinstance(event, ev.DataStart):
                via = "DATA"
            elif isinstance(event, ev.AuthCredentials):
                session.auth_user = event.username
            elif isinstance(event, ev.DataEnd):
                assert mail is not None
                message = Received(
                    mail.address,
                    dict(mail.params),
                    tuple(r.address for r in rcpts),
                    tuple(dict(r.params) for r in rcpts),
                    b"".join(content),
                    via,
                )
                with self._lock:
                    session.messages.append(message)
                content.clear()
                mail, rcpts, via = None, [], "BDAT"
            elif isinstance(event, ev.StartTls):
                assert self._tls is not None
                writer.write(conn.data_to_send())
                await writer.drain()
                await writer.start_tls(self._tls)
                ssl_object = writer.get_extra_info("ssl_object")
                session.tls_version = ssl_object.version() if ssl_object else None
                conn.tls_started()

    async def _pause(self, script: Script, step: str) -> None:
        seconds = script.delay.get(step, 0.0)
        if seconds:
            await asyncio.sleep(seconds)

    def _decide(
        self,
        script: Script,
        conn: ServerConnection,
        session: Session,
        event: ev.Event,
        mail: ev.MailFrom | None,
    ) -> Reply:
        if isinstance(event, ev.Hello):
            if event.verb == "EHLO" and script.ehlo is not None:
                return script.ehlo
            if event.verb != "EHLO":
                return conn.hello_reply()
            keep = script.offer | {"STARTTLS", "AUTH"}
            offered = [e for e in conn.extensions() if e.split()[0] in keep]
            return Reply(250, "", HOSTNAME, *offered)
        if isinstance(event, ev.StartTls):
            return Reply(220, "2.0.0", "Ready to start TLS")
        if isinstance(event, ev.AuthCredentials):
            users = script.users or {}
            if users.get(event.username) == event.password:
                return Reply(235, "2.7.0", "Authentication successful")
            return Reply(535, "5.7.8", "Authentication credentials invalid")
        if isinstance(event, ev.MailFrom):
            return script.mail.get(event.address) or Reply(250, "2.1.0", "Sender OK")
        if isinstance(event, ev.RcptTo):
            return self._rcpt(script, session, event, mail)
        if isinstance(event, ev.DataStart):
            return script.data or Reply(354, "", "End data with <CR><LF>.<CR><LF>")
        if isinstance(event, ev.BdatChunkEnd):
            return Reply(250, "2.0.0", f"{event.size} octets received")
        if isinstance(event, ev.DataEnd):
            return script.final or Reply(250, "2.0.0", f"Ok: queued as {_queue_id(session)}")
        return Reply(252, "2.5.2", "Cannot VRFY user")

    def _rcpt(
        self, script: Script, session: Session, event: ev.RcptTo, mail: ev.MailFrom | None
    ) -> Reply:
        address = event.address
        with self._lock:
            attempt = self._attempts.get(address, 0)
            self._attempts[address] = attempt + 1
            key = (session.peer[0], mail.address if mail else "", address.lower())
            first_time = key not in self._greylisted
            self._greylisted.add(key)
        if script.greylist and first_time:
            return Reply(451, "4.7.1", "Greylisted, please try again later")
        scripted = script.rcpt.get(address)
        if isinstance(scripted, Reply):
            return scripted
        if scripted:
            return scripted[min(attempt, len(scripted) - 1)]
        return Reply(250, "2.1.5", "Recipient OK")


_STEP: dict[type[ev.Event], str] = {
    ev.Hello: "EHLO",
    ev.StartTls: "STARTTLS",
    ev.AuthCredentials: "AUTH",
    ev.MailFrom: "MAIL",
    ev.RcptTo: "RCPT",
    ev.DataStart: "DATA",
    ev.BdatChunkEnd: "BDAT",
    ev.DataEnd: "FINAL",
    ev.Verify: "VRFY",
}


def _queue_id(session: Session) -> str:
    return f"S{session.peer[1]}M{len(session.messages) + 1}"


def _params(params: dict[str, str | None]) -> str:
    return "".join(f" {k}" if v is None else f" {k}={v}" for k, v in params.items())


def _describe(event: ev.Event) -> str:
    """One line per event for Session.commands."""
    if isinstance(event, ev.Hello):
        return f"{event.verb} {event.domain}"
    if isinstance(event, ev.StartTls):
        return "STARTTLS"
    if isinstance(event, ev.AuthCredentials):
        return f"AUTH {event.mechanism} {event.username}"
    if isinstance(event, ev.MailFrom):
        return f"MAIL FROM:<{event.address}>{_params(event.params)}"
    if isinstance(event, ev.RcptTo):
        return f"RCPT TO:<{event.address}>{_params(event.params)}"
    if isinstance(event, ev.DataStart):
        return "DATA"
    if isinstance(event, ev.BdatChunkEnd):
        return f"BDAT {event.size}"
    if isinstance(event, ev.DataEnd):
        return f"END {event.size}"
    if isinstance(event, ev.DataRejected):
        return f"REJECTED {event.reason}"
    if isinstance(event, ev.Reset):
        return "RESET"
    if isinstance(event, ev.Closed):
        return f"CLOSED {event.reason}"
    return type(event).__name__.upper()
