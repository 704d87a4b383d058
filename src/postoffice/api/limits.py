"""Per-tenant sending limits (`postoffice tenant limits`): recipients queued in the current
clock hour and day (UTC), checked before a send is accepted. Calls racing each other may pass
a limit by what they carry; no call is accepted once it is reached."""

from __future__ import annotations

from postoffice.api.context import ApiContext
from postoffice.api.errors import ApiError
from postoffice.storage.interfaces import Store
from postoffice.storage.tenants import Tenant


async def check_limits(context: ApiContext, tenant: str, recipients: int) -> None:
    """429 (with Retry-After) when `recipients` more would pass the hourly or daily limit."""
    now = context.clock.now()
    found: tuple[Tenant | None, int, int] = await context.run(_usage, tenant, now)
    limits, hour, day = found
    if limits is None:
        return
    for limit, used, period, resets in (
            (limits.hourly_limit, hour, "hourly", now - now % 3600 + 3600),
            (limits.daily_limit, day, "daily", now - now % 86400 + 86400)):
        if limit is not None and used + recipients > limit:
            raise LimitReached(f"the {period} sending limit of {limit} recipients is reached"
                               f" ({used} used); it resets in {int(resets - now)} s",
                               retry_after=int(resets - now) + 1)


class LimitReached(ApiError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message, code="rate_limited",
                         headers={"Retry-After": str(retry_after)})


def _usage(store: Store, tenant: str, now: float) -> tuple[Tenant | None, int, int]:
    found = store.get_tenant(tenant)
    if found is None or (found.hourly_limit is None and found.daily_limit is None):
        return None, 0, 0
    return (found, store.queued_since(tenant, now - now % 3600),
            store.queued_since(tenant, now - now % 86400))
