"""Asking an Rspamd worker for its opinion of a message: `POST /checkv2` over HTTP/1.1 (Rspamd's
protocol: the message is the body; the envelope goes in the request headers IP, Helo, From, one
Rcpt per recipient, Queue-Id, User, Hostname) and a JSON answer with "score", "required_score",
"action" and "symbols".

A small client on asyncio streams, one connection per message (`Connection: close`). Anything
but a well-formed answer within `timeout` seconds (no connection, a timeout, an HTTP status other
than 200, bad JSON) raises `RspamdError`: the caller takes it as no opinion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeGuard
from urllib.parse import urlsplit

MAX_ANSWER = 1 << 20
"""Bytes of answer read at most (Rspamd's JSON is a few KB)."""


class RspamdError(Exception):
    """Rspamd gave no usable answer."""


@dataclass(frozen=True)
class RspamdResult:
    score: float
    required_score: float
    action: str
    """no action, greylist, add header, rewrite subject, soft reject or reject."""
    symbols: dict[str, float] = field(default_factory=dict)
    """Each rule that matched and the score it added."""


async def check(
    url: str, content: bytes, *, ip: str, helo: str, mail_from: str, rcpts: Sequence[str],
    user: str | None = None, queue_id: str | None = None, hostname: str | None = None,
    timeout: float,
) -> RspamdResult:
    """`url`: the worker ("http://127.0.0.1:11333"; a path is a prefix). `mail_from` "" is the
    null sender; `hostname` the client's forward-confirmed name, when iprev passed."""
    host, port, path = _endpoint(url)
    fields = [("Host", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"), ("IP", ip), ("Helo", helo),
              ("From", mail_from or "<>")]
    fields += [("Rcpt", rcpt) for rcpt in rcpts]
    fields += [(name, value) for name, value in
               (("Queue-Id", queue_id), ("User", user), ("Hostname", hostname)) if value]
    fields += [("Content-Length", str(len(content))), ("Connection", "close")]
    head = f"POST {path}checkv2 HTTP/1.1\r\n".encode() + b"".join(
        f"{name}: {_value(value)}\r\n".encode() for name, value in fields) + b"\r\n"
    try:
        async with asyncio.timeout(timeout):
            status, body = await _exchange(host, port, head, content)
    except TimeoutError:
        raise RspamdError(f"no answer from {host}:{port} within {timeout:g} s") from None
    except OSError as e:
        raise RspamdError(f"cannot talk to {host}:{port}: {e}") from e
    return _result(status, body)


def _endpoint(url: str) -> tuple[str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError as e:
        raise RspamdError(f"bad Rspamd URL {url!r}: {e}") from None
    if parts.scheme != "http" or not parts.hostname:
        raise RspamdError(f"bad Rspamd URL {url!r}: want http://host:port")
    return parts.hostname, port, parts.path.rstrip("/") + "/"


def _value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise RspamdError(f"line break in a request header value: {value!r}")
    return value


async def _exchange(host: str, port: int, head: bytes, content: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head)
        writer.write(content)
        await writer.drain()
        return await _response(reader)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(status, body) of an HTTP/1.x response: the body by Content-Length, or up to the end."""
    try:
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise RspamdError(f"not an HTTP response: {status_line[:80]!r}")
        length: int | None = None
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                if not value.strip().isdigit():
                    raise RspamdError(f"bad Content-Length: {value.strip()[:40]!r}")
                length = int(value)
            elif name == b"transfer-encoding" and value.strip().lower() != b"identity":
                raise RspamdError(f"unsupported Transfer-Encoding: {value.strip()[:40]!r}")
        if length is not None and length > MAX_ANSWER:
            raise RspamdError(f"answer too large ({length} bytes)")
        body = (await reader.readexactly(length) if length is not None
                else await reader.read(MAX_ANSWER + 1))
    except asyncio.IncompleteReadError as e:
        raise RspamdError(f"connection closed mid-answer ({len(e.partial)} bytes)") from None
    except asyncio.LimitOverrunError:
        raise RspamdError("answer header line too long") from None
    if len(body) > MAX_ANSWER:
        raise RspamdError("answer too large")
    return int(parts[1]), body


def _result(status: int, body: bytes) -> RspamdResult:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeError):
        answer = None
    if status != 200:
        error = answer.get("error") if isinstance(answer, dict) else None
        raise RspamdError(f"HTTP {status}" + (f": {error}" if error else ""))
    if not isinstance(answer, dict):
        raise RspamdError(f"answer is not a JSON object: {body[:80]!r}")
    score, required, action = (answer.get(k) for k in ("score", "required_score", "action"))
    symbols = answer.get("symbols", {})
    if not (_number(score) and _number(required) and isinstance(action, str)
            and isinstance(symbols, dict)):
        raise RspamdError(f"answer lacks score, required_score or action: {body[:120]!r}")
    scores = {}
    for name, symbol in symbols.items():
        value = symbol.get("score") if isinstance(symbol, dict) else None
        if not _number(value):
            raise RspamdError(f"symbol {name} has no score")
        scores[name] = float(value)
    return RspamdResult(float(score), float(required), action, scores)


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
