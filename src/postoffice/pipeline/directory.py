"""Directory lookups the SMTP intake makes for every envelope (domains, users, aliases,
quotas, Sieve scripts), cached for a few seconds so RCPT does not hit the database each time."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from postoffice.storage.interfaces import Alias, NotFound, User
from postoffice.storage.mailboxes import Quota, SieveScript
from postoffice.storage.suppressions import SuppressionQuery
from postoffice.storage.tenants import Tenant

Runner = Callable[..., Awaitable[Any]]


class DirectoryCache:
    """Domain, user, quota and Sieve script lookups, cached for `ttl` seconds so RCPT does not
    hit the database for every message; changes made with the CLI take effect within `ttl`.
    `run(method, *args)` calls the Store method of that name (on the store's thread)."""

    def __init__(self, run: Runner, ttl: float = 5.0) -> None:
        self._run = run
        self._ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}

    async def _get(self, kind: str, key: str, method: str) -> Any:
        now = time.monotonic()
        hit = self._entries.get((kind, key))
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await self._run(method, key)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[(kind, key)] = (now + self._ttl, value)
        return value

    async def call(self, method: str, *args: Any) -> Any:
        """Any Store method, uncached (on the store's thread)."""
        return await self._run(method, *args)

    async def is_local_domain(self, domain: str) -> bool:
        return bool(await self._get("domain", domain, "is_local_domain"))

    async def user(self, address: str) -> User | None:
        user: User | None = await self._get("user", address.lower(), "get_user")
        return user

    async def alias(self, address: str) -> Alias | None:
        alias: Alias | None = await self._get("alias", address.lower(), "get_alias")
        return alias

    async def active_script(self, address: str) -> SieveScript | None:
        """The user's active Sieve script (None: none, or no such user)."""
        try:
            script: SieveScript | None = await self._get("sieve", address.lower(),
                                                         "active_sieve_script")
        except NotFound:
            return None
        return script

    async def quota(self, address: str) -> Quota | None:
        """The user's quota as last counted (None: no such user)."""
        try:
            quota: Quota = await self._get("quota", address.lower(), "quota")
        except NotFound:
            return None
        return quota

    def cached_quota(self, address: str) -> Quota | None:
        """The quota as last looked up, without I/O (None if never looked up or no user)."""
        hit = self._entries.get(("quota", address.lower()))
        return hit[1] if hit else None

    async def folders(self, address: str) -> frozenset[str]:
        """The names of the user's selectable folders (not cached: scripts create them)."""
        found = await self._run("list_folders", address)
        return frozenset(f.name for f in found if f.selectable)

    async def record_error(self, address: str, script: str, error: str) -> None:
        """Note why the user's script failed (ManageSieve and `postoffice sieve ls` show it)."""
        await self._run("record_sieve_error", address, script, error)
        self._entries.pop(("sieve", address.lower()), None)

    async def note_vacation(self, address: str, handle: str, sender: str, days: int) -> bool:
        """Whether a vacation reply may go to `sender` now (and it is recorded as sent)."""
        return bool(await self._run("note_vacation_reply", address, handle, sender, days))

    async def tenant_of(self, domain: str) -> str | None:
        """The tenant owning a domain of ours (None: not ours)."""
        found: str | None = await self._get("tenant_of", domain.lower(), "domain_tenant")
        return found

    async def tenant(self, name: str) -> Tenant | None:
        """A tenant with its sending limits."""
        found: Tenant | None = await self._get("tenant", name, "get_tenant")
        return found

    async def has_suppressions(self, tenant: str) -> bool:
        """Whether the tenant's suppression list has any entry (so most mail needs no look
        at it): cached like the rest, so a new entry counts within `ttl`."""
        now = time.monotonic()
        hit = self._entries.get(("suppressions", tenant))
        if hit is not None and hit[0] > now:
            return bool(hit[1])
        found = await self._run("list_suppressions", tenant, SuppressionQuery(limit=1))
        self._entries[("suppressions", tenant)] = (now + self._ttl, bool(found))
        return bool(found)

    def cached_user(self, address: str) -> User | None:
        """The user as last looked up, without I/O (None if never looked up)."""
        hit = self._entries.get(("user", address.lower()))
        return hit[1] if hit else None
