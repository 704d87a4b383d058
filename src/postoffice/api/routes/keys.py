"""/v1/api-keys: a tenant's keys (admin scope). A key is shown once, when it is made."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from postoffice.api.auth import Admin, KeyCache
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.models import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from postoffice.policy import api_keys
from postoffice.storage.interfaces import NotFound, Store
from postoffice.storage.tenants import ApiKey

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, scope=key.scope, name=key.name, created_at=key.created_at,
                     revoked_at=key.revoked_at, last_used_at=key.last_used_at)


@router.get("", response_model=list[ApiKeyOut], summary="List the keys")
async def list_keys(caller: Admin, request: Request) -> list[ApiKeyOut]:
    context: ApiContext = request.app.state.context
    keys: list[ApiKey] = await context.run(_list, caller.tenant)
    return [_out(k) for k in keys]


@router.post("", status_code=201, response_model=ApiKeyCreated,
             summary="Make a key (the response is the only time it is shown)")
async def create_key(body: ApiKeyIn, caller: Admin, request: Request) -> ApiKeyCreated:
    context: ApiContext = request.app.state.context
    new = api_keys.make_key()
    key: ApiKey = await context.run(_add, caller.tenant, new.id, new.digest, body.scope,
                                    body.name)
    return ApiKeyCreated(**_out(key).model_dump(), key=new.key)


@router.delete("/{key_id}", status_code=204, response_class=Response,
               summary="Revoke a key")
async def revoke_key(key_id: str, caller: Admin, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    try:
        await context.run(_revoke, caller.tenant, key_id)
    except NotFound:
        raise ApiError(404, f"no key {key_id}") from None
    cache: KeyCache = request.app.state.keys
    cache.forget(key_id)
    return Response(status_code=204)


def _list(store: Store, tenant: str) -> list[ApiKey]:
    return store.list_api_keys(tenant)


def _add(store: Store, tenant: str, key_id: str, digest: str, scope: str, name: str) -> ApiKey:
    return store.add_api_key(tenant, key_id, digest, scope, name)


def _revoke(store: Store, tenant: str, key_id: str) -> None:
    store.revoke_api_key(tenant, key_id)
