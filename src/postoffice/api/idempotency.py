"""`Idempotency-Key`: a call retried with the same key (and the same request) is answered as
the first time and does nothing again; the same key with another request is a 409. Keys are
per tenant and kept 24 hours."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.storage.interfaces import StorageError, Store
from postoffice.storage.templates import StoredAnswer

HEADER = "Idempotency-Key"
MAX_KEY = 255


async def idempotent(request: Request, tenant: str, status: int,
                     handle: Callable[[], Awaitable[BaseModel]]) -> JSONResponse:
    """The answer of `handle()` (as JSON with `status`), or the stored one of an earlier call
    with the same key."""
    key = request.headers.get(HEADER)
    if key is None:
        return JSONResponse((await handle()).model_dump(mode="json"), status_code=status)
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(422, f"{HEADER}: 1 to {MAX_KEY} printable characters", field=HEADER)
    context: ApiContext = request.app.state.context
    digest = hashlib.sha256(request.method.encode() + b" " + request.url.path.encode() + b"\n"
                            + await request.body()).hexdigest()
    try:
        found: StoredAnswer | None = await context.run(_claim, tenant, key, digest)
    except StorageError:
        raise ApiError(503, "the request could not be recorded; try again") from None
    if found is not None:
        if found.request != digest:
            raise ApiError(409, f"{HEADER} was used with another request", field=HEADER)
        if found.status == 0:
            raise ApiError(409, "a call with this Idempotency-Key is still running; try again",
                           field=HEADER)
        return _replayed(found)
    try:
        body = (await handle()).model_dump(mode="json")
    except BaseException:
        await context.run(_release, tenant, key)
        raise
    response = JSONResponse(body, status_code=status)
    await context.run(_store, tenant, key, StoredAnswer(digest, status, bytes(response.body).decode()))
    return response


class _Stored(JSONResponse):
    """A JSON body kept as its text: sent byte for byte as the first time."""

    def render(self, content: object) -> bytes:
        assert isinstance(content, str)
        return content.encode()


def _replayed(found: StoredAnswer) -> JSONResponse:
    return _Stored(found.response, status_code=found.status,
                   headers={"Idempotent-Replayed": "true"})


def _claim(store: Store, tenant: str, key: str, digest: str) -> StoredAnswer | None:
    return store.claim_key(tenant, key, digest)


def _release(store: Store, tenant: str, key: str) -> None:
    store.release_key(tenant, key)


def _store(store: Store, tenant: str, key: str, answer: StoredAnswer) -> None:
    store.store_answer(tenant, key, answer)
