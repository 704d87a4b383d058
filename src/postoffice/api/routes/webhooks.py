"""/v1/webhooks: a tenant's webhooks and their deliveries (read to list, admin to change).
The secret is shown when a webhook is made and when it is rotated, never otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import APIRouter, Path, Query, Request, Response

from postoffice.api.auth import Admin, Reader
from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.api.webhook_models import (
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
    WebhookSecret,
)
from postoffice.policy import webhooks as policy
from postoffice.storage.interfaces import NotFound, Store
from postoffice.storage.webhooks import Webhook, WebhookDelivery

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
T = TypeVar("T")
MAX_ID = 2**63 - 1
WebhookId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.post("", status_code=201, response_model=WebhookCreated,
             summary="Subscribe a URL to event types (the secret is shown this once)")
async def create(body: WebhookIn, caller: Admin, request: Request) -> WebhookCreated:
    url, events = _url(body.url), _events(body.events)
    secret = policy.new_secret()
    hook: Webhook = await _context(request).run(_add, caller.tenant, url, events, secret)
    return WebhookCreated(**_out(hook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookOut], summary="List the webhooks")
async def list_all(caller: Reader, request: Request) -> list[WebhookOut]:
    hooks: list[Webhook] = await _context(request).run(_list, caller.tenant)
    return [_out(h) for h in hooks]


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook")
async def get(webhook_id: WebhookId, caller: Reader, request: Request) -> WebhookOut:
    hook: Webhook | None = await _context(request).run(_get, caller.tenant, webhook_id)
    if hook is None:
        raise ApiError(404, f"no webhook {webhook_id}")
    return _out(hook)


@router.patch("/{webhook_id}", response_model=WebhookOut,
              summary="Change the URL, the event types, or pause and resume")
async def update(webhook_id: WebhookId, body: WebhookPatch, caller: Admin,
                 request: Request) -> WebhookOut:
    url = None if body.url is None else _url(body.url)
    events = None if body.events is None else _events(body.events)
    try:
        hook: Webhook = await _context(request).run(_update, caller.tenant, webhook_id, url,
                                                    events, body.active)
    except NotFound:
        raise ApiError(404, f"no webhook {webhook_id}") from None
    return _out(hook)


@router.delete("/{webhook_id}", status_code=204, response_class=Response,
               summary="Remove a webhook and its deliveries")
async def delete(webhook_id: WebhookId, caller: Admin, request: Request) -> Response:
    await _owned(request, _delete, caller.tenant, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret,
             summary="Make a new secret (shown this once); the old one stops at once")
async def rotate_secret(webhook_id: WebhookId, caller: Admin, request: Request) -> WebhookSecret:
    secret = policy.new_secret()
    await _owned(request, _set_secret, caller.tenant, webhook_id, secret)
    return WebhookSecret(id=webhook_id, secret=secret)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList,
            summary="The webhook's deliveries, newest first, with their attempts")
async def deliveries(webhook_id: WebhookId, caller: Reader, request: Request,
                     status: Annotated[str | None, Query(
                         pattern="^(pending|delivered|failed)$")] = None,
                     before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> DeliveryList:
    found: list[WebhookDelivery] = await _owned(request, _deliveries, caller.tenant,
                                                webhook_id, status, before, limit)
    return DeliveryList(deliveries=[_delivery(d) for d in found],
                        next_before=found[-1].id if len(found) == limit else None)


@router.post("/{webhook_id}/test", status_code=202, response_model=DeliveryOut,
             summary="Send a \"test\" event to this webhook (whatever its event types)")
async def test(webhook_id: WebhookId, caller: Admin, request: Request) -> DeliveryOut:
    context = _context(request)
    made: WebhookDelivery = await _owned(request, _test, caller.tenant, webhook_id,
                                         context.clock.now())
    return _delivery(made)


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


async def _owned(request: Request, fn: Callable[..., T], tenant: str, webhook_id: int,
                 *args: Any) -> T:
    """`fn(store, tenant, webhook_id, *args)`; 404 unless the tenant has that webhook."""
    try:
        return cast(T, await _context(request).run(fn, tenant, webhook_id, *args))
    except NotFound:
        raise ApiError(404, f"no webhook {webhook_id}") from None


def _url(value: str) -> str:
    try:
        return policy.check_url(value)
    except ValueError as error:
        raise ApiError(422, f"url: {error}", field="url") from None


def _events(values: list[str]) -> tuple[str, ...]:
    try:
        return policy.check_events(values)
    except ValueError as error:
        index, _, why = str(error).partition(": ")
        if index.isdigit():
            raise ApiError(422, f"events[{index}]: {why}", field=f"events[{index}]") from None
        raise ApiError(422, f"events: {error}", field="events") from None


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(id=hook.id, url=hook.url, events=list(hook.events), active=hook.active,
                      created_at=hook.created_at)


def _delivery(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id, event_id=d.event_id, event_type=d.event_type, status=d.status,
        attempts=[AttemptOut(at=a.at, status_code=a.status_code, error=a.error,
                             duration=a.duration) for a in d.history],
        next_attempt_at=d.next_attempt_at, last_status_code=d.last_status_code,
        last_error=d.last_error, created_at=d.created_at, delivered_at=d.delivered_at)


def _add(store: Store, tenant: str, url: str, events: tuple[str, ...], secret: str) -> Webhook:
    return store.add_webhook(tenant, url, events, secret)


def _list(store: Store, tenant: str) -> list[Webhook]:
    return store.list_webhooks(tenant)


def _get(store: Store, tenant: str, webhook_id: int) -> Webhook | None:
    return store.get_webhook(tenant, webhook_id)


def _update(store: Store, tenant: str, webhook_id: int, url: str | None,
            events: tuple[str, ...] | None, active: bool | None) -> Webhook:
    return store.update_webhook(tenant, webhook_id, url=url, events=events, active=active)


def _delete(store: Store, tenant: str, webhook_id: int) -> None:
    store.delete_webhook(tenant, webhook_id)


def _set_secret(store: Store, tenant: str, webhook_id: int, secret: str) -> None:
    store.set_webhook_secret(tenant, webhook_id, secret)


def _deliveries(store: Store, tenant: str, webhook_id: int, status: str | None,
                before: int | None, limit: int) -> list[WebhookDelivery]:
    return store.list_webhook_deliveries(tenant, webhook_id, status=status, before_id=before,
                                         limit=limit)


def _test(store: Store, tenant: str, webhook_id: int, now: float) -> WebhookDelivery:
    return store.add_test_delivery(tenant, webhook_id, now)
