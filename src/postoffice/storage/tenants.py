"""Tenants (organisations) and their API keys: the records and the Store methods for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Tenant:
    name: str
    created_at: float
    retention_days: int = 60
    """Message logs, events and stored bodies older than this are purged."""
    hourly_limit: int | None = None
    """Recipients accepted per hour (None: no limit)."""
    daily_limit: int | None = None
    """Recipients accepted per day (None: no limit)."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    """The public part of the key (12 hex digits)."""
    tenant: str
    scope: str
    """"send", "read" or "admin" (policy/api_keys.py)."""
    name: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None


class TenantStore(Protocol):
    def add_tenant(self, name: str, retention_days: int = 60) -> Tenant:
        """AlreadyExists for a name in use; ValueError for a bad name."""
        ...
    def get_tenant(self, name: str) -> Tenant | None: ...
    def list_tenants(self) -> list[Tenant]: ...
    def set_tenant_limits(self, name: str, *, hourly: int | None, daily: int | None,
                          retention_days: int) -> None: ...
    def domain_tenant(self, domain: str) -> str | None:
        """The tenant owning a local domain (None: not a local domain)."""
        ...
    def add_api_key(self, tenant: str, key_id: str, digest: str, scope: str,
                    name: str = "") -> ApiKey:
        """NotFound for an unknown tenant; ValueError for an unknown scope."""
        ...
    def api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        """The key and its stored digest (revoked ones too: the caller checks)."""
        ...
    def list_api_keys(self, tenant: str) -> list[ApiKey]: ...
    def revoke_api_key(self, tenant: str, key_id: str) -> None:
        """NotFound unless the tenant has that key."""
        ...
    def touch_api_key(self, key_id: str, when: float) -> None:
        """Note a use (at most about once a minute matters)."""
        ...
