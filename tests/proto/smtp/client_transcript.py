"""Run SMTP client transcripts against the client core with a tiny scripted adapter.

Script lines (blank lines and `#` comments are ignored):
    S: text          server line; CRLF is appended. Consecutive S:/R: lines go in ONE
                     receive_data() call (so a multi-line block is a pipelining server).
    R: b"..."        raw server bytes, nothing appended.
    C: text          the next line the client wrote (exact, without CRLF). Every line the
                     client writes must be matched before the next server input.
    C* prefix        skip client lines up to and including one that starts with prefix.
    E: repr          an event the core emitted since the last input (ordered subsequence).
    -- eof           the server closed the connection: receive_eof().
The adapter acts on events by itself: UpgradeTls -> tls_started() (the handshake "works"),
SessionReady/IDLE -> start the next message or QUIT, ContentWanted -> the next content chunk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from smtp_transcript import Driver

from postoffice.message.envelope import Envelope, Recipient
from postoffice.proto.smtp.client import ClientConfig, ClientConnection, ClientState
from postoffice.proto.smtp.client_content import ContentTraits
from postoffice.proto.smtp.client_events import (
    ClientEvent,
    ContentWanted,
    Idle,
    SessionClosed,
    TransactionDone,
    UpgradeTls,
)
from postoffice.proto.smtp.client_results import TransactionResult
from postoffice.proto.smtp.events import NeedData

HELO = "client.example"


def envelope(*recipients: str, sender: str = "a@example.org", **kw: object) -> Envelope:
    rcpts = tuple(Recipient(r) if isinstance(r, str) else r for r in recipients)
    return Envelope(sender, rcpts, **kw)  # type: ignore[arg-type]


def cconfig(**kw: object) -> ClientConfig:
    kw.setdefault("helo_name", HELO)
    kw.setdefault("tls", "none")
    return ClientConfig(**kw)  # type: ignore[arg-type]


Message = tuple[Envelope, bytes]


class ClientDriver:
    """A ClientConnection plus a scripted adapter that sends `messages` in order, then QUITs."""

    def __init__(
        self,
        config: ClientConfig | None = None,
        messages: Sequence[Message] = (),
        *,
        chunk: int = 1 << 16,
        traits: bool = True,
        quit: bool = True,
    ) -> None:
        self.conn = ClientConnection(config or cconfig())
        self.messages: deque[Message] = deque(messages)
        self.chunk = chunk
        self.traits = traits
        self.quit = quit
        self.events: list[ClientEvent] = []
        self.output = b""
        self.results: list[TransactionResult] = []
        self.closed: SessionClosed | None = None
        self._content: deque[bytes] | None = None

    def drive(self) -> list[ClientEvent]:
        new: list[ClientEvent] = []
        while self.closed is None:
            event = self.conn.next_event()
            if isinstance(event, NeedData):
                break
            if isinstance(event, Idle):
                if self.conn.state is not ClientState.READY:
                    break
                if self.messages:
                    env, content = self.messages.popleft()
                    traits = ContentTraits.of(content) if self.traits else None
                    self._content = deque(
                        content[i : i + self.chunk] for i in range(0, len(content), self.chunk)
                    )
                    self.conn.start_transaction(env, traits)
                elif self.quit:
                    self.conn.quit()
                else:
                    break
                continue
            new.append(event)
            if isinstance(event, UpgradeTls):
                self.conn.tls_started()
            elif isinstance(event, ContentWanted):
                assert self._content is not None
                if self._content:
                    self.conn.send_content(self._content.popleft())
                else:
                    self.conn.end_content()
            elif isinstance(event, TransactionDone):
                self.results.append(event.result)
            elif isinstance(event, SessionClosed):
                self.closed = event
        self.output += self.conn.data_to_send()
        self.events += new
        return new

    def feed(self, data: bytes) -> list[ClientEvent]:
        self.conn.receive_data(data)
        return self.drive()

    def feed_pieces(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.feed(piece)

    def eof(self) -> list[ClientEvent]:
        self.conn.receive_eof()
        return self.drive()

    @property
    def lines(self) -> list[str]:
        return self.output.decode("utf-8", "replace").split("\r\n")[:-1]


def run(script: str, driver: ClientDriver) -> ClientDriver:
    """Run a transcript (see the module docstring); AssertionError on the first mismatch."""
    driver.drive()
    out: deque[str] = deque(driver.lines)
    events: deque[ClientEvent] = deque()
    pending = b""

    def flush() -> None:
        nonlocal pending
        if pending:
            assert not out, f"unmatched client output before next server input: {list(out)}"
            before = len(driver.output)
            events.clear()
            events.extend(driver.feed(pending))
            pending = b""
            out.extend(driver.output[before:].decode("utf-8", "replace").split("\r\n")[:-1])

    for number, raw in enumerate(script.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tag, _, text = line.partition(" ")
        where = f"transcript line {number}: {line!r}"
        if tag == "S:":
            pending += text.encode("utf-8") + b"\r\n"
        elif tag == "R:":
            pending += eval(text, {"__builtins__": {}})  # our own scripts
        elif tag == "--":
            flush()
            assert not out, f"unmatched client output: {list(out)} ({where})"
            before = len(driver.output)
            events.clear()
            events.extend(driver.eof())
            out.extend(driver.output[before:].decode("utf-8", "replace").split("\r\n")[:-1])
        elif tag == "C:":
            flush()
            assert out, f"client wrote nothing more, expected {text!r} ({where})"
            got = out.popleft().rstrip(" ")
            assert got == text, f"client wrote {got!r}, expected {text!r} ({where})"
        elif tag == "C*":
            flush()
            while True:
                assert out, f"client wrote no line starting {text!r} ({where})"
                if out.popleft().startswith(text):
                    break
        elif tag == "E:":
            flush()
            seen: list[str] = []
            while events:
                got_event = repr(events.popleft())
                if got_event == text:
                    break
                seen.append(got_event)
            else:
                raise AssertionError(f"no event {text} among {seen} ({where})")
        else:
            raise ValueError(f"bad transcript line ({where})")
    flush()
    assert not out, f"unmatched client output at the end: {list(out)}"
    return driver


def converse(client: ClientDriver, server: Driver, max_rounds: int = 10_000) -> None:
    """Let the client core talk to the server core in memory until one side closes."""
    client.feed(server.output)
    sent_to_client = len(server.output)
    sent_to_server = 0
    for _ in range(max_rounds):
        if client.closed is not None:
            return
        progressed = False
        if len(client.output) > sent_to_server:
            server.feed(client.output[sent_to_server:])
            sent_to_server = len(client.output)
            progressed = True
        if len(server.output) > sent_to_client:
            client.feed(server.output[sent_to_client:])
            sent_to_client = len(server.output)
            progressed = True
        if server.closed is not None and not progressed:
            client.eof()
        elif not progressed:
            raise AssertionError("deadlock: neither side has anything to say")
    raise AssertionError("conversation did not end")
