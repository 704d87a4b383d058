"""A minimal HTTP/1.1 listener: health checks and the MTA-STS policy of our domains (Host
`mta-sts.<local domain>`, path /.well-known/mta-sts.txt, RFC 8461 3.3: HTTPS belongs in front of
it); the API and dashboard mount here later."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from postoffice import __version__

MAX_REQUEST = 16 * 1024


MTA_STS_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True)
class HttpContext:
    is_local_domain: Callable[[str], Awaitable[bool]]
    mta_sts_policy: str
    """The policy file served for every local domain (our MX hosts are the same for all)."""


class HttpSession(asyncio.Protocol):
    def __init__(self, context: HttpContext | None = None) -> None:
        self._context = context
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_REQUEST:
            self._respond(431, {"error": "request header fields too large"})
            return
        if b"\r\n\r\n" not in self._buffer:
            return
        request_line = bytes(self._buffer.split(b"\r\n", 1)[0]).decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._respond(400, {"error": "malformed request line"})
        elif parts[0] not in ("GET", "HEAD"):
            self._respond(405, {"error": f"method {parts[0]} not allowed"})
        elif parts[1].split("?")[0] == "/healthz":
            self._respond(200, {"status": "ok", "version": __version__}, head=parts[0] == "HEAD")
        elif parts[1] == MTA_STS_PATH and self._context is not None and self._task is None:
            host = _host_header(bytes(self._buffer))
            self._task = asyncio.get_running_loop().create_task(
                self._mta_sts(host, head=parts[0] == "HEAD"))
        else:
            self._respond(404, {"error": "not found", "path": parts[1][:200]})

    async def _mta_sts(self, host: str, head: bool) -> None:
        assert self._context is not None
        prefix, _, domain = host.partition(".")
        if prefix == "mta-sts" and domain and await self._context.is_local_domain(domain):
            self._respond(200, self._context.mta_sts_policy, head=head)
        else:
            self._respond(404, {"error": "no MTA-STS policy for this host", "host": host[:200]})

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None:
            self._task.cancel()

    def _respond(self, status: int, body: dict[str, object] | str, head: bool = False) -> None:
        assert self._transport is not None
        if self._transport.is_closing():
            return
        reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   431: "Request Header Fields Too Large"}
        text = isinstance(body, str)
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        head_bytes = (
            f"HTTP/1.1 {status} {reasons[status]}\r\n"
            f"Content-Type: {'text/plain' if text else 'application/json'}\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        self._transport.write(head_bytes if head else head_bytes + payload)
        self._transport.close()
        self._buffer.clear()


def _host_header(request: bytes) -> str:
    """The Host header's name, lowercased, without port or trailing dot ("" when absent)."""
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            host = value.strip().decode("latin-1").lower()
            return host.rsplit(":", 1)[0].rstrip(".") if "]" not in host else host
    return ""
