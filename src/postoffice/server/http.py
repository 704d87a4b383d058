"""The http listener: an ASGI application (api/) served on an inherited socket by uvicorn's
HTTP/1.1 protocol, in this process's event loop (no server of its own, no signal handlers)."""

from __future__ import annotations

import asyncio
import logging
import socket
from email.utils import formatdate

from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.server import ServerState

log = logging.getLogger("postoffice.http")


class HttpListener:
    def __init__(self, app: ASGIApp, *, keep_alive: float = 5.0,
                 max_connections: int | None = None) -> None:
        self._config = Config(app, lifespan="off", log_config=None, access_log=False,
                              proxy_headers=False, server_header=False, date_header=True,
                              timeout_keep_alive=int(keep_alive), limit_concurrency=max_connections,
                              h11_max_incomplete_event_size=64 * 1024)
        self._config.load()
        self._state = ServerState()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, sock: socket.socket) -> asyncio.AbstractServer:
        config, state = self._config, self._state

        def protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state={})
            return made

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, sock=sock)
        self._tick(loop)
        return self._server

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """The Date header every response carries, renewed each second."""
        if self._server is None or not self._server.is_serving():
            return
        self._state.default_headers = [(b"date", formatdate(usegmt=True).encode())]
        loop.call_later(1.0, self._tick, loop)

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to `grace` seconds)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        deadline = asyncio.get_running_loop().time() + grace
        while self._state.tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._state.tasks):
            task.cancel()
