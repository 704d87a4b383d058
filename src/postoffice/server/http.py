"""A minimal HTTP/1.1 listener: health checks now; the API and dashboard mount here later."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from postoffice import __version__

MAX_REQUEST = 16 * 1024


class HttpSession(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

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
        else:
            self._respond(404, {"error": "not found", "path": parts[1][:200]})

    def _respond(self, status: int, body: dict[str, object], head: bool = False) -> None:
        assert self._transport is not None
        reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   431: "Request Header Fields Too Large"}
        payload = json.dumps(body).encode()
        head_bytes = (
            f"HTTP/1.1 {status} {reasons[status]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        self._transport.write(head_bytes if head else head_bytes + payload)
        self._transport.close()
        self._buffer.clear()
