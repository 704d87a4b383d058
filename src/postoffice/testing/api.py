"""The API over a real store and intake, driven in process through httpx's ASGI transport:
a data directory with two tenants (default: example.test, acme: acme.example), each with a key
of every scope."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from postoffice.api import ApiContext, create_app
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.intake import Intake
from postoffice.policy import api_keys
from postoffice.storage import open_store
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import Store

T = TypeVar("T")


def _call(store: Store, method: str, *args: object) -> object:
    return getattr(store, method)(*args)


@dataclass
class Tenant:
    name: str
    domain: str
    keys: dict[str, str]
    """scope -> key"""

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


class World:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.tenants: dict[str, Tenant] = {}
        store = open_store(data)
        try:
            for name, domain in (("default", "example.test"), ("acme", "acme.example")):
                if name != "default":
                    store.add_tenant(name)
                store.add_domain(domain, tenant=name)
                keys = {}
                for scope in api_keys.SCOPES:
                    new = api_keys.make_key()
                    store.add_api_key(name, new.id, new.digest, scope, f"{scope} key")
                    keys[scope] = new.key
                self.tenants[name] = Tenant(name, domain, keys)
        finally:
            store.close()

    def run(self, test: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        async def main() -> T:
            async with self.client() as client:
                return await test(client)
        return asyncio.run(main())

    @asynccontextmanager
    async def client(self, **context: Any) -> AsyncIterator[httpx.AsyncClient]:
        committer = GroupCommitter(lambda: open_store(self.data))
        committer.start()
        try:
            config = Config(data_dir=self.data)
            intake = Intake(config=config, clock=SYSTEM_CLOCK, blobs=committer.blobs,
                            directory=DirectoryCache(lambda m, *a: committer.run(_call, m, *a)),
                            commit=committer.commit)
            app = create_app(ApiContext(run=committer.run, intake=intake, clock=SYSTEM_CLOCK,
                                        hostname="mail.example.test",
                                        mta_sts_policy="version: STSv1\r\n",
                                        commit_many=committer.commit_many, **context))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
                yield c
        finally:
            await committer.close()

    def store(self) -> Store:
        return open_store(self.data)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
