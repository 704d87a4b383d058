"""Run SMTP transcripts against the server core with a tiny scripted adapter.

Script lines (blank lines and `#` comments are ignored):
    C: text          client line; CRLF is appended. Consecutive C:/R: lines go in ONE
                     receive_data() call (so every multi-line block is a pipelining test).
    R: b"..."        raw client bytes (a bytes expression such as b"x" * 600), nothing appended.
    S: text          the next line the server wrote (exact, without CRLF). Every line the
                     server writes must be matched before the next client input.
    S* 250           a whole multi-line reply with that code (e.g. an EHLO reply whose
                     keywords are tested elsewhere).
    E: repr          an event the core emitted since the last input (repr, exact), after
                     those matched before: E: lines match an ordered subsequence.
    A: Event reply   answer the next event of that type with this reply instead of the
                     default, e.g. `A: RcptTo 550 5.1.1 No such user`.
    -- tls           the adapter finished the TLS handshake: tls_started().
    -- eof           the client closed its side: receive_eof().
The adapter greets with `220 mx.example.org ESMTP` unless told otherwise.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.config import ServerConfig
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.server import ServerConnection

HOSTNAME = "mx.example.org"
GREETING = Reply(220, "", f"{HOSTNAME} ESMTP")
PASSWORD = "secret"


def config(**kw: object) -> ServerConfig:
    return ServerConfig(hostname=HOSTNAME, **kw)  # type: ignore[arg-type]


class Driver:
    """A ServerConnection plus the scripted adapter; records everything that happened."""

    def __init__(self, cfg: ServerConfig | None = None, *, greeting: Reply | None = GREETING):
        self.conn = ServerConnection(cfg or config())
        self.overrides: dict[str, deque[Reply]] = {}
        self.events: list[ev.Event] = []
        """Every event, in order."""
        self.output = b""
        """Every byte the server wrote."""
        self.messages: list[bytes] = []
        """Content of each accepted message (DataEnd answered positively)."""
        self.rejected: list[str] = []
        """Reason of each DataRejected."""
        self.closed: str | None = None
        self._content: list[bytes] = []
        if greeting is not None:
            self.conn.greet(greeting)
            self.drive()

    def answer(self, event: ev.Event) -> Reply | None:
        queued = self.overrides.get(type(event).__name__)
        if queued:
            return queued.popleft()
        match event:
            case ev.Hello():
                return self.conn.hello_reply()
            case ev.StartTls():
                return Reply(220, "2.0.0", "Ready to start TLS")
            case ev.AuthCredentials(password=password):
                if password == PASSWORD:
                    return Reply(235, "2.7.0", "Authentication successful")
                return Reply(535, "5.7.8", "Authentication credentials invalid")
            case ev.MailFrom():
                return Reply(250, "2.1.0", "Sender OK")
            case ev.RcptTo():
                return Reply(250, "2.1.5", "Recipient OK")
            case ev.DataStart():
                return Reply(354, "", "End data with <CR><LF>.<CR><LF>")
            case ev.BdatChunkEnd(size=size):
                return Reply(250, "2.0.0", f"{size} octets received")
            case ev.DataEnd():
                return Reply(250, "2.0.0", "Message accepted")
            case ev.Verify(argument=argument):
                return Reply(250, "2.1.5", argument)
        return None

    def drive(self) -> list[ev.Event]:
        """Take events until NEED_DATA or Closed, answering them; return the new events."""
        new: list[ev.Event] = []
        while self.closed is None:
            event = self.conn.next_event()
            if isinstance(event, ev.NeedData):
                break
            new.append(event)
            self._track(event)
            reply = self.answer(event)
            if reply is not None:
                self.conn.send(reply)
                if isinstance(event, ev.DataEnd):
                    content = b"".join(self._content)
                    self._content.clear()
                    if reply.positive:
                        self.messages.append(content)
        self.output += self.conn.data_to_send()
        self.events += new
        return new

    def _track(self, event: ev.Event) -> None:
        if isinstance(event, ev.DataChunk):
            self._content.append(event.data)
        elif isinstance(event, ev.DataRejected):
            self._content.clear()
            self.rejected.append(event.reason)
        elif isinstance(event, ev.Reset):
            self._content.clear()
        elif isinstance(event, ev.Closed):
            self.closed = event.reason

    def feed(self, data: bytes) -> list[ev.Event]:
        self.conn.receive_data(data)
        return self.drive()

    def feed_pieces(self, pieces: Iterable[bytes]) -> None:
        for piece in pieces:
            self.feed(piece)

    def eof(self) -> list[ev.Event]:
        self.conn.receive_eof()
        return self.drive()

    def tls(self) -> list[ev.Event]:
        self.conn.tls_started()
        return self.drive()

    @property
    def lines(self) -> list[str]:
        return self.output.decode("utf-8", "replace").split("\r\n")[:-1]


def run(script: str, cfg: ServerConfig | None = None) -> Driver:
    """Run a transcript (see the module docstring); AssertionError on the first mismatch."""
    driver = Driver(cfg)
    out: deque[str] = deque(driver.lines)
    events: deque[ev.Event] = deque(driver.events)
    pending = b""

    def flush() -> None:
        nonlocal pending
        if pending:
            assert not out, f"unmatched server output before next input: {list(out)}"
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
        if tag == "C:":
            pending += text.encode("utf-8") + b"\r\n"
        elif tag == "R:":
            pending += eval(text, {"__builtins__": {}})  # our own scripts: b"x" * 600 is handy
        elif tag == "A:":
            name, _, reply = text.partition(" ")
            driver.overrides.setdefault(name, deque()).append(Reply.parse(reply.encode()))
        elif tag == "--":
            flush()
            assert not out, f"unmatched server output: {list(out)} ({where})"
            before = len(driver.output)
            events.clear()
            events.extend(driver.tls() if text == "tls" else driver.eof())
            out.extend(driver.output[before:].decode("utf-8", "replace").split("\r\n")[:-1])
        elif tag == "S:":
            flush()
            assert out, f"server wrote nothing more, expected {text!r} ({where})"
            got = out.popleft().rstrip(" ")  # script lines cannot keep trailing blanks
            assert got == text, f"server wrote {got!r}, expected {text!r} ({where})"
        elif tag == "S*":
            flush()
            while True:
                assert out, f"server wrote no {text} reply ({where})"
                got = out.popleft()
                assert got[:3] == text, f"server wrote {got!r}, expected a {text} reply ({where})"
                if got[3:4] != "-":
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
    assert not out, f"unmatched server output at the end: {list(out)}"
    return driver


# -- a slow, obviously correct DATA decoder to compare the real one with -------------------

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def reference_data(
    stream: bytes, normalize: bool = False, max_size: int = 0
) -> tuple[bytes, str | None, bytes] | None:
    """A slow, obviously correct DATA decoder: (content, error, leftover) or None."""
    s = b"\r\n" + stream
    end = s.find(b"\r\n.\r\n")
    if end < 0:
        return None
    raw, leftover = s[2 : end + 2], s[end + 5 :]
    lines = raw.split(b"\r\n")
    content = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    error = None
    if BARE.search(content):
        if normalize:
            content = re.sub(rb"\r\n|\r|\n", b"\r\n", content)
        else:
            error = "bare-newline"
    if error is None and max_size and len(content) > max_size:
        error = "too-large"
    return content, error, leftover
