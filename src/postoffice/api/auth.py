"""API keys on requests: `Authorization: Bearer po_...`, checked against the stored digest,
scoped (send < read < admin) and bound to one tenant: every handler acts for `Caller.tenant`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.policy import api_keys
from postoffice.storage.interfaces import Store
from postoffice.storage.tenants import ApiKey

bearer = HTTPBearer(auto_error=False, description="An API key: `postoffice apikey create`")
TOUCH_EVERY = 60.0
"""Seconds between two writes of a key's last use."""


@dataclass(frozen=True)
class Caller:
    tenant: str
    key_id: str
    scope: str


class KeyCache:
    """Verified keys for a few seconds, so a request does not wait for the store."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[float, ApiKey, str]] = {}
        self._touched: dict[str, float] = {}

    def get(self, key_id: str) -> tuple[ApiKey, str] | None:
        hit = self._keys.get(key_id)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1], hit[2]

    def put(self, key: ApiKey, digest: str) -> None:
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[key.id] = (time.monotonic() + self.ttl, key, digest)

    def forget(self, key_id: str) -> None:
        self._keys.pop(key_id, None)

    def due_touch(self, key_id: str) -> bool:
        now = time.monotonic()
        if now - self._touched.get(key_id, -TOUCH_EVERY) < TOUCH_EVERY:
            return False
        self._touched[key_id] = now
        return True


def _lookup(store: Store, key_id: str) -> tuple[ApiKey, str] | None:
    return store.api_key(key_id)


def _touch(store: Store, key_id: str, when: float) -> None:
    store.touch_api_key(key_id, when)


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, when the request carries a live key of at least `scope`."""

    async def caller(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        context: ApiContext = request.app.state.context
        cache: KeyCache = request.app.state.keys
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "an API key is required: Authorization: Bearer <key>")
        secret = credentials.credentials
        key_id = api_keys.key_id(secret)
        if key_id is None:
            raise ApiError(401, "malformed API key")
        found = cache.get(key_id)
        if found is None:
            found = await context.run(_lookup, key_id)
            if found is not None:
                cache.put(*found)
        if found is None or not api_keys.matches(secret, found[1]):
            raise ApiError(401, "unknown API key")
        key = found[0]
        if key.revoked_at is not None:
            raise ApiError(401, "this API key was revoked")
        if not api_keys.allows(key.scope, scope):
            raise ApiError(403, f"this API key has scope {key.scope}; {scope} is needed")
        if cache.due_touch(key.id):
            await context.run(_touch, key.id, context.clock.now())
        return Caller(key.tenant, key.id, key.scope)

    return caller


Sender = Annotated[Caller, Depends(require("send"))]
Reader = Annotated[Caller, Depends(require("read"))]
Admin = Annotated[Caller, Depends(require("admin"))]
