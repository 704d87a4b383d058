"""The Rspamd client against a fake HTTP server on loopback: the request it sends, the answers it
understands, and every way of giving no answer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from postoffice.pipeline.rspamd import RspamdError, RspamdResult, check

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
ANSWER = {"is_skipped": False, "score": 7.5, "required_score": 15.0, "action": "add header",
          "symbols": {"MISSING_DATE": {"name": "MISSING_DATE", "score": 1.0,
                                       "metric_score": 1.0},
                      "SUBJ_ALL_CAPS": {"name": "SUBJ_ALL_CAPS", "score": 6.5}},
          "messages": {}, "message-id": "undef"}


def http(status: str = "200 OK", body: bytes | None = None, *, length: bool = True,
         extra: bytes = b"") -> bytes:
    body = json.dumps(ANSWER).encode() if body is None else body
    head = f"HTTP/1.1 {status}\r\nServer: fake\r\nContent-Type: application/json\r\n".encode()
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + extra + b"Connection: close\r\n\r\n" + body


@dataclass
class Request:
    line: bytes
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class FakeRspamd:
    """Answers each request with `reply` (bytes, or a coroutine function given the writer)."""

    reply: bytes | Callable[[asyncio.StreamWriter], Awaitable[None]] = field(
        default_factory=http)
    requests: list[Request] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *rest = head[:-4].split(b"\r\n")
            headers = [(n.decode(), v.strip().decode()) for n, _, v in
                       (h.partition(b":") for h in rest)]
            length = next(int(v) for n, v in headers if n.lower() == "content-length")
            self.requests.append(Request(line, headers, await reader.readexactly(length)))
            if isinstance(self.reply, bytes):
                writer.write(self.reply)
            else:
                await self.reply(writer)
            await writer.drain()
        finally:
            writer.close()


def run(fake: FakeRspamd, path: str = "", **kwargs: Any) -> RspamdResult:
    async def main() -> RspamdResult:
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        args: dict[str, Any] = dict(ip="192.0.2.1", helo="mail.example.org",
                                    mail_from="a@example.org", rcpts=["b@example.net"],
                                    timeout=5.0)
        args.update(kwargs)
        async with server:
            return await check(f"http://127.0.0.1:{port}{path}", MESSAGE, **args)
    return asyncio.run(main())


def test_request_carries_the_envelope_in_headers_and_the_message_as_body() -> None:
    fake = FakeRspamd()
    run(fake, rcpts=["b@example.net", "c@example.net"], user="alice", queue_id="Q123",
        hostname="mail.example.org")
    (request,) = fake.requests
    assert request.line == b"POST /checkv2 HTTP/1.1"
    assert request.body == MESSAGE
    headers = request.headers
    port = dict(headers)["Host"].rpartition(":")[2]
    assert headers == [
        ("Host", f"127.0.0.1:{port}"), ("IP", "192.0.2.1"), ("Helo", "mail.example.org"),
        ("From", "a@example.org"), ("Rcpt", "b@example.net"), ("Rcpt", "c@example.net"),
        ("Queue-Id", "Q123"), ("User", "alice"), ("Hostname", "mail.example.org"),
        ("Content-Length", str(len(MESSAGE))), ("Connection", "close")]


def test_optional_headers_are_left_out_and_the_null_sender_is_spelled_out() -> None:
    fake = FakeRspamd()
    run(fake, mail_from="")
    names = [name for name, _ in fake.requests[0].headers]
    assert not {"User", "Queue-Id", "Hostname"} & set(names)
    assert ("From", "<>") in fake.requests[0].headers


def test_a_path_in_the_url_is_a_prefix() -> None:
    fake = FakeRspamd()
    run(fake, path="/rspamd/")
    assert fake.requests[0].line == b"POST /rspamd/checkv2 HTTP/1.1"


def test_answer_is_read() -> None:
    result = run(FakeRspamd())
    assert result == RspamdResult(7.5, 15.0, "add header",
                                  {"MISSING_DATE": 1.0, "SUBJ_ALL_CAPS": 6.5})


def test_answer_without_content_length_is_read_to_the_end() -> None:
    assert run(FakeRspamd(http(length=False))).score == 7.5


def test_answer_without_symbols_has_none() -> None:
    body = json.dumps({"score": 0, "required_score": 15, "action": "no action"}).encode()
    assert run(FakeRspamd(http(body=body))) == RspamdResult(0.0, 15.0, "no action", {})


def test_answer_written_in_small_pieces() -> None:
    async def trickle(writer: asyncio.StreamWriter) -> None:
        for i in range(0, len(answer := http()), 7):
            writer.write(answer[i:i + 7])
            await writer.drain()
            await asyncio.sleep(0)
    assert run(FakeRspamd(trickle)).action == "add header"


@pytest.mark.parametrize(("reply", "error"), [
    (http("500 Internal Server Error", b'{"error":"cannot parse message"}'),
     "HTTP 500: cannot parse message"),
    (http("404 Not Found", b"nope"), "HTTP 404"),
    (http(body=b"{not json"), "not a JSON object"),
    (http(body=b"[1, 2]"), "not a JSON object"),
    (http(body=b'{"score": 1.0, "action": "no action"}'), "lacks score, required_score"),
    (http(body=b'{"score": "high", "required_score": 15, "action": "reject"}'), "lacks score"),
    (http(body=b'{"score": 1, "required_score": 15, "action": "x", "symbols": {"A": {}}}'),
     "symbol A has no score"),
    (http(extra=b"Transfer-Encoding: chunked\r\n"), "unsupported Transfer-Encoding"),
    (b"SPAMD/1.1 0 EX_OK\r\n\r\n", "not an HTTP response"),
    (http()[:-10], "connection closed mid-answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "answer too large"),
])
def test_bad_answers_raise(reply: bytes, error: str) -> None:
    with pytest.raises(RspamdError, match=error):
        run(FakeRspamd(reply))


def test_no_answer_in_time_raises() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)
    with pytest.raises(RspamdError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.2 s"):
        run(FakeRspamd(silent), timeout=0.2)


def test_connection_refused_raises() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(RspamdError, match=f"cannot talk to 127.0.0.1:{port}"):
            asyncio.run(check(f"http://127.0.0.1:{port}", MESSAGE, ip="192.0.2.1", helo="h",
                              mail_from="", rcpts=[], timeout=5.0))


@pytest.mark.parametrize("url", ["https://127.0.0.1:11333", "127.0.0.1:11333",
                                 "http://127.0.0.1:port", "http://"])
def test_bad_url_raises(url: str) -> None:
    with pytest.raises(RspamdError, match="bad Rspamd URL"):
        asyncio.run(check(url, MESSAGE, ip="192.0.2.1", helo="h", mail_from="", rcpts=[],
                          timeout=1.0))


def test_header_injection_is_refused() -> None:
    with pytest.raises(RspamdError, match="line break"):
        run(FakeRspamd(), helo="evil\r\nUser: root")
