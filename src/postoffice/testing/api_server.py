"""A real `postoffice serve` for tests of the HTTP API over a socket: a scripted SMTP peer as
its smarthost, and an admin key of the default tenant made with the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice


@dataclass
class ServedApi:
    server: ServerProcess
    peer: ScriptedSmtp
    base: str
    """http://host:port of the http listener (no trailing slash)."""
    key: str
    """An admin key of the tenant "default"."""


@contextmanager
def serving_api(data: Path, config: dict[str, dict[str, Any]] | None = None,
                script: Script | None = None) -> Iterator[ServedApi]:
    with ScriptedSmtp(script or Script()) as peer:
        host, port = peer.address
        server = ServerProcess(data, config={
            "delivery": {"smarthost": f"{host}:{port}"}, **(config or {})})
        with server:
            created = postoffice("apikey", "create", "--tenant", "default", "--scope", "admin",
                                 "--json", data=server.data)
            server.start()
            address, http_port = server.address("http")
            yield ServedApi(server, peer, f"http://{address}:{http_port}",
                            json.loads(created.stdout)["key"])
