"""HttpSender against a local receiver: the POST as sent, statuses, failures as SendError,
and no connection to a non-public address unless allowed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from postoffice.mta.webhook_http import AddressNotAllowed, HttpSender, SendError


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    got: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            got.append((self.path, dict(self.headers),
                        self.rfile.read(int(self.headers["Content-Length"]))))
            status = 503 if self.path == "/busy" else 204
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()


def test_posts_and_returns_the_status(
        receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]]) -> None:
    base, got = receiver

    async def test() -> list[int]:
        sender = HttpSender(allow_private=True)
        try:
            return [await sender(f"{base}/hook?x=1", b'{"a":1}', {"X-Postoffice-Event": "t"}),
                    await sender(f"{base}/busy", b"{}", {})]
        finally:
            await sender.close()

    assert asyncio.run(test()) == [204, 503]
    path, headers, body = got[0]
    assert (path, body, headers["X-Postoffice-Event"]) == ("/hook?x=1", b'{"a":1}', "t")
    assert headers["Host"] == base.removeprefix("http://")


def test_private_addresses_are_refused_unless_allowed(
        receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]]) -> None:
    base, got = receiver
    port = base.rsplit(":", 1)[1]

    async def test() -> None:
        sender = HttpSender(allow_private=False)
        try:
            for url in (f"{base}/h", f"http://localhost:{port}/h"):
                with pytest.raises(AddressNotAllowed, match="not a public address"):
                    await sender(url, b"{}", {})
        finally:
            await sender.close()

    asyncio.run(test())
    assert got == []


def test_connection_failures_are_send_errors() -> None:
    async def test() -> None:
        sender = HttpSender(allow_private=True)
        try:
            with pytest.raises(SendError):
                await sender("http://127.0.0.1:1/h", b"{}", {})
            with pytest.raises(SendError, match="cannot resolve"):
                await HttpSender(allow_private=False)("http://no-such-host.invalid/", b"{}", {})
        finally:
            await sender.close()

    asyncio.run(test())
