"""The private Postfix harness (postoffice.testing.postfix) against a real Postfix."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType

import pytest

from postoffice.testing import peers
from postoffice.testing.postfix import POSTFIX, PostfixInstance


@pytest.fixture
def postfix_peer() -> Iterator[None]:
    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    yield


@dataclass
class SinkMessage:
    mail_from: bytes
    rcpt_to: list[bytes]
    data: bytes


@dataclass
class AsyncioSink:
    """A tiny SMTP server in its own thread that keeps what it receives (no PIPELINING, no TLS)."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[SinkMessage] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        mail_from, rcpts = b"", []
        writer.write(b"220 sink.test ESMTP test sink\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-sink.test\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    mail_from, rcpts = line[10:].strip(), []
                    writer.write(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line[8:].strip())
                    writer.write(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    chunks = []
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        chunks.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    with self._arrived:
                        self.messages.append(SinkMessage(mail_from, rcpts, b"".join(chunks)))
                        self._arrived.notify_all()
                    writer.write(b"250 2.0.0 stored\r\n")
                elif verb in (b"RSET", b"NOOP"):
                    writer.write(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    break
                else:
                    writer.write(b"502 5.5.1 not implemented\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        server = await asyncio.start_server(self._session, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stop.wait()
            for w in list(self._writers):
                w.close()

    def __enter__(self) -> AsyncioSink:
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(ready),), daemon=True)
        self._thread.start()
        assert ready.wait(10), "sink did not start"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_for(self, count: int, timeout: float) -> list[SinkMessage]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


@pytest.mark.peer
def test_hold_instance_keeps_every_message(postfix_peer: None) -> None:
    with PostfixInstance(hold=True) as pf:
        with smtplib.SMTP(*pf.address, timeout=30) as client:
            for i in range(3):
                client.sendmail(
                    "sender@example.net",
                    ["someone@example.test"],
                    f"Subject: hold {i}\r\nMessage-ID: <{uuid.uuid4()}@example.net>\r\n\r\nheld\r\n",
                )
        assert pf.wait_for_queue_count("hold", 3, timeout=10) == 3, pf.log_tail()
        counts = pf.queue_counts()
        assert counts["hold"] == 3
        assert counts["deferred"] == counts["active"] == counts["incoming"] == 0
        assert pf.wait_for_log("Client host triggers HOLD action", timeout=10), pf.log_tail()
        root = pf.root
        assert root is not None and root.exists()
    assert pf.root is None and not root.exists(), "stop() removes the temporary directory"


@pytest.mark.peer
def test_relay_instance_delivers_to_our_sink(postfix_peer: None) -> None:
    marker = uuid.uuid4().hex
    with AsyncioSink() as sink, PostfixInstance(relay_to=(sink.host, sink.port)) as pf:
        with smtplib.SMTP(*pf.address, timeout=30) as client:
            client.sendmail(
                "sender@example.net",
                ["rcpt@example.test"],
                f"Subject: relay {marker}\r\nMessage-ID: <{marker}@example.net>\r\n\r\n"
                f"body {marker}\r\n.leading dot\r\n",
            )
        got = sink.wait_for(1, timeout=30)
        assert len(got) == 1, pf.log_tail()
        msg = got[0]
        assert msg.mail_from == b"<sender@example.net>"
        assert msg.rcpt_to == [b"<rcpt@example.test>"]
        assert f"body {marker}".encode() in msg.data
        assert b"\r\n.leading dot\r\n" in msg.data
        assert b"Received: from " in msg.data  # Postfix added its trace header
        assert pf.wait_for_queue_empty(timeout=10), pf.queue_counts()
        assert pf.wait_for_log("status=sent", timeout=10), pf.log_tail()


def test_require_peer_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = "/nonexistent/postoffice-no-such-peer"
    monkeypatch.delenv(peers.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs postfix \(Debian package postfix\)"):
        peers.require_peer("postfix", missing)
    monkeypatch.setenv(peers.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        peers.require_peer("postfix", missing)
    assert peers.require_peer("sh").endswith("/sh")


def test_instance_needs_exactly_one_mode() -> None:
    with pytest.raises(ValueError):
        PostfixInstance()
    with pytest.raises(ValueError):
        PostfixInstance(hold=True, relay_to=("127.0.0.1", 25))
