"""The HTTP side of webhooks: one POST, its status code, nothing else of the answer that
matters. On httpcore (the transport under httpx): a connection pool with keep-alive, no
redirects, no proxies from the environment.

Unless `allow_private` is set, every connection goes only to public addresses: the host name
is resolved when the connection is made and refused if any of its addresses is loopback,
private, link-local or otherwise not global (policy/webhooks.py `public_address`); the
connection is made to an address that was checked, so a name cannot change its answer between
the check and the connect. TLS is still verified against the host name."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import httpcore

from postoffice.policy.webhooks import public_address

MAX_ANSWER = 64 * 1024
"""Octets of an answer's body read (and thrown away) so its connection may be used again."""


class SendError(Exception):
    """A request got no HTTP answer; the message says why."""


class AddressNotAllowed(SendError):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


class _PublicOnly(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses of a host (see the module's docstring)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await _addresses(host, port)
        refused = [a for a in addresses if not public_address(a)]
        if refused:
            raise AddressNotAllowed(
                f"{host} is {refused[0]}, not a public address (webhooks allow_private = false)")
        error: Exception = SendError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _addresses(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SendError(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpSender:
    """POSTs webhook bodies; `await sender(url, body, headers)` is the answer's status."""

    def __init__(self, *, allow_private: bool, max_connections: int = 100,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            max_connections=max_connections, max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=None if allow_private else _PublicOnly())

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        raw = [(name.encode(), value.encode()) for name, value in headers.items()]
        try:
            async with self._pool.stream("POST", url, headers=raw, content=body) as response:
                read = 0
                async for chunk in response.aiter_stream():
                    read += len(chunk)
                    if read > MAX_ANSWER:
                        break
                return response.status
        except SendError:
            raise
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                httpcore.UnsupportedProtocol, OSError) as exc:
            raise SendError(_describe(exc)) from None

    async def close(self) -> None:
        await self._pool.aclose()


def _describe(exc: Exception) -> str:
    kind = {httpcore.ConnectTimeout: "connection timed out",
            httpcore.ConnectError: "cannot connect", httpcore.ReadTimeout: "no answer in time",
            httpcore.WriteTimeout: "sending timed out"}.get(type(exc), type(exc).__name__)
    detail = str(exc)
    return f"{kind}: {detail}" if detail else kind
