"""/v1/domains: a tenant's sending domains (read to list, admin to add or remove)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from postoffice.api.auth import Admin, Reader
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.models import DomainIn, DomainOut
from postoffice.storage import addresses
from postoffice.storage.interfaces import AlreadyExists, Domain, InUse, NotFound, Store

router = APIRouter(prefix="/v1/domains", tags=["domains"])


@router.get("", response_model=list[DomainOut], summary="List the domains")
async def list_domains(caller: Reader, request: Request) -> list[DomainOut]:
    context: ApiContext = request.app.state.context
    domains: list[Domain] = await context.run(_list)
    return [DomainOut(name=d.name, created_at=d.created_at) for d in domains
            if d.tenant == caller.tenant]


@router.post("", status_code=201, response_model=DomainOut,
             summary="Add a domain (its DKIM keys are made at once)")
async def add_domain(body: DomainIn, caller: Admin, request: Request) -> DomainOut:
    context: ApiContext = request.app.state.context
    name = _name(body.name)
    try:
        domain: Domain = await context.run(_add, name, caller.tenant)
    except AlreadyExists:
        raise ApiError(409, f"{name} exists already", field="name") from None
    if context.on_domain_added is not None:
        context.on_domain_added(name)
    return DomainOut(name=domain.name, created_at=domain.created_at)


@router.delete("/{name}", status_code=204, response_class=Response,
               summary="Remove a domain (it must have no mailboxes)")
async def remove_domain(name: str, caller: Admin, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    domain = _name(name)
    owner = await context.run(_owner, domain)
    if owner != caller.tenant:
        raise ApiError(404, f"no domain {domain}")
    try:
        await context.run(_remove, domain)
    except NotFound:
        raise ApiError(404, f"no domain {domain}") from None
    except InUse as error:
        raise ApiError(409, str(error)) from None
    return Response(status_code=204)


_HOSTNAME = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+"
                       r"(xn--[a-z0-9-]{1,59}|[a-z]{2,63})")


def _name(value: str) -> str:
    """The domain as stored (lower case, A-labels); 422 for anything else."""
    try:
        name = addresses.normalize_domain(value)
    except ValueError:
        name = ""
    if not _HOSTNAME.fullmatch(name):
        raise ApiError(422, f"not a domain name: {value[:100]!r}", field="name")
    return name


def _list(store: Store) -> list[Domain]:
    return store.list_domains()


def _add(store: Store, name: str, tenant: str) -> Domain:
    return store.add_domain(name, tenant)


def _owner(store: Store, name: str) -> str | None:
    return store.domain_tenant(name)


def _remove(store: Store, name: str) -> None:
    store.remove_domain(name)
