"""A small HTTPS GET for the few documents mail needs from the web (MTA-STS policies, BIMI
logos): HTTP/1.1, no redirects followed, Content-Length, chunked or close framing, a size
limit. Failures raise `FetchError` with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl

from postoffice.auth.dns import DnsQuery, Flow, RRType, lookup_all
from postoffice.mta.dns import DnsLookup, run_async

_STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3})(?: .*)?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")


class FetchError(Exception):
    """A document could not be fetched; the message says why."""


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and headers (names in lower case) of an HTTP/1.x response head."""
    status_line, *lines = head.decode("latin-1").removesuffix("\r\n\r\n").split("\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise FetchError(f"not an HTTP/1.x response: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise FetchError(f"malformed header line {line[:80]!r}")
        name, value = name.lower(), value.strip(" \t")
        if name in headers and name in ("content-length", "content-type"):
            if headers[name] != value:
                raise FetchError(f"conflicting {name} headers")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(match.group(1)), headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    too_large = FetchError(f"body larger than {limit} bytes")
    coding = headers.get("transfer-encoding", "").lower()
    if coding:
        if coding != "chunked":
            raise FetchError(f"unsupported Transfer-Encoding {coding!r}")
        body = bytearray()
        while True:
            size_line = (await reader.readuntil(b"\r\n"))[:-2].partition(b";")[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_line):
                raise FetchError(f"bad chunk size {size_line[:20]!r}")
            size = int(size_line, 16)
            if size == 0:
                return bytes(body)  # trailers, if any, are not read
            if len(body) + size > limit:
                raise too_large
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise FetchError("chunk not followed by CRLF")
    length = headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            raise FetchError(f"bad Content-Length {length!r}")
        if int(length) > limit:
            raise too_large
        return await reader.readexactly(int(length))
    body = bytearray()
    while chunk := await reader.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def get(
    host: str, path: str, addresses: tuple[str, ...], *, port: int, context: ssl.SSLContext,
    content_type: str, max_size: int,
) -> bytes:
    """GET https://host/path from the first of `addresses` that takes a connection, the
    certificate checked against `host`; only a 200 answer of `content_type` counts."""
    reader, writer = await _connect(host, addresses, port, context)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: postoffice\r\n"
                     f"Accept: {content_type}\r\nConnection: close\r\n\r\n".encode("ascii"))
        await writer.drain()
        status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
        if status != 200:
            redirect = " (redirects are not followed)" if 300 <= status < 400 else ""
            raise FetchError(f"HTTP status {status}{redirect}")
        found = headers.get("content-type", "")
        if found.partition(";")[0].strip().lower() != content_type:
            raise FetchError(f"Content-Type {found!r} is not {content_type}")
        return await read_body(reader, headers, max_size)
    finally:
        writer.transport.abort()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _connect(
    host: str, addresses: tuple[str, ...], port: int, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    error: OSError | None = None
    for address in addresses:
        try:
            return await asyncio.open_connection(address, port, ssl=context, server_hostname=host)
        except ssl.SSLCertVerificationError:
            raise
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


async def fetch(
    host: str, path: str, *, resolver: DnsLookup, connect_host: str | None, port: int,
    context: ssl.SSLContext, content_type: str, max_size: int, timeout: float,
) -> bytes:
    """`get` after looking `host` up (or at `connect_host`, for tests), within `timeout`; every
    failure is a FetchError naming the URL and why."""
    url = f"https://{host}{path}"
    try:
        async with asyncio.timeout(timeout):
            if connect_host is not None:
                addresses: tuple[str, ...] = (connect_host,)
            else:
                addresses = await run_async(addresses_flow(host), resolver)
            if not addresses:
                raise FetchError(f"{host} has no address")
            return await get(host, path, addresses, port=port, context=context,
                             content_type=content_type, max_size=max_size)
    except FetchError as exc:
        raise FetchError(f"{url}: {exc}") from None
    except TimeoutError:
        raise FetchError(f"{url}: timed out after {timeout:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"{url}: certificate: {exc.verify_message or exc}") from None
    except Exception as exc:  # OSError, SSLError, IncompleteReadError, LimitOverrunError
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


def addresses_flow(host: str) -> Flow[tuple[str, ...]]:
    answers = yield from lookup_all((DnsQuery(host, RRType.A), DnsQuery(host, RRType.AAAA)))
    return tuple(str(address) for answer in answers for address in answer.addresses)
