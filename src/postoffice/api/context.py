"""What the API's handlers reach: the store (on its thread), the intake, the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from postoffice.clock import Clock
from postoffice.pipeline.intake import Intake

StoreCall = Callable[..., Awaitable[Any]]
"""`await run(fn, *args)` runs `fn(store, *args)` on the store's thread."""


@dataclass
class ApiContext:
    run: StoreCall
    intake: Intake
    clock: Clock
    hostname: str
    mta_sts_policy: str
    """The policy file served for every local domain at mta-sts.<domain>."""
    max_body: int = 40 * 1024 * 1024
    """Largest request body, in octets (413 beyond)."""
    key_cache_ttl: float = 10.0
    """Seconds a verified API key is trusted without looking it up again (a revoked key
    stops working within this time in other processes; at once in the revoking one)."""
    on_domain_added: Callable[[str], Any] | None = field(default=None)
    """Makes the DKIM keys of a domain added through the API."""
