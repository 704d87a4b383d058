"""Per-tenant sending limits on the API (`postoffice tenant limits`; the rule is
policy/sending_limits.py). Calls racing each other may pass a limit by what they carry; no
call is accepted once it is reached."""

from __future__ import annotations

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.policy import sending_limits
from postoffice.storage.interfaces import Store
from postoffice.storage.tenants import Tenant

Usage = tuple[Tenant | None, int, int]
"""The tenant when it has limits (else None), and what it sent this hour and this day."""


async def check_limits(context: ApiContext, tenant: str, recipients: int) -> None:
    """429 (with Retry-After) when `recipients` more would pass the hourly or daily limit."""
    now = context.clock.now()
    within_limits(await context.run(usage, tenant, now), recipients, now)


def within_limits(found: Usage, recipients: int, now: float) -> None:
    """429 (with Retry-After) when `recipients` more would pass a limit."""
    limits, hour, day = found
    if limits is None:
        return
    reached = sending_limits.check(hourly=limits.hourly_limit, daily=limits.daily_limit,
                                   used_hour=hour, used_day=day, adding=recipients, now=now)
    if reached is not None:
        raise ApiError(429, reached.message, code="rate_limited",
                       headers={"Retry-After": str(reached.retry_after)})


def usage(store: Store, tenant: str, now: float) -> Usage:
    found = store.get_tenant(tenant)
    if found is None or (found.hourly_limit is None and found.daily_limit is None):
        return None, 0, 0
    return (found, store.queued_since(tenant, sending_limits.hour_start(now)),
            store.queued_since(tenant, sending_limits.day_start(now)))
