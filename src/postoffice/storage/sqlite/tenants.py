"""Tenants and API keys in SQL: the Store's TenantStore methods, as a mixin of SqliteStore."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from postoffice.policy.api_keys import SCOPES
from postoffice.storage import addresses
from postoffice.storage.interfaces import AlreadyExists, NotFound
from postoffice.storage.tenants import ApiKey, Tenant

TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_TENANT_COLUMNS = "name, created_at, retention_days, hourly_limit, daily_limit"
_KEY_COLUMNS = "id, tenant, scope, name, created_at, revoked_at, last_used_at"


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise ValueError(f"bad tenant name {name!r} (lower-case letters, digits, '.', '_', '-';"
                         " at most 63)")
    return name


class TenantMethods:
    _db: sqlite3.Connection
    _clock: Callable[[], float]
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    def add_tenant(self, name: str, retention_days: int = 60) -> Tenant:
        tenant = Tenant(check_tenant_name(name), self._clock(), retention_days)
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        try:
            with self._transaction():
                self._db.execute("INSERT INTO tenants (name, created_at, retention_days)"
                                 " VALUES (?, ?, ?)", (name, tenant.created_at, retention_days))
        except AlreadyExists:
            raise AlreadyExists(f"tenant {name} exists already") from None
        return tenant

    def get_tenant(self, name: str) -> Tenant | None:
        with self._reading():
            row = self._db.execute(f"SELECT {_TENANT_COLUMNS} FROM tenants WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None else Tenant(*row)

    def list_tenants(self) -> list[Tenant]:
        with self._reading():
            rows = self._db.execute(f"SELECT {_TENANT_COLUMNS} FROM tenants ORDER BY name")
            return [Tenant(*row) for row in rows]

    def set_tenant_limits(self, name: str, *, hourly: int | None, daily: int | None,
                          retention_days: int) -> None:
        if retention_days < 1 or any(v is not None and v < 0 for v in (hourly, daily)):
            raise ValueError("limits must not be negative and retention at least one day")
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE tenants SET hourly_limit = ?, daily_limit = ?, retention_days = ?"
                " WHERE name = ?", (hourly, daily, retention_days, name))
            if cursor.rowcount == 0:
                raise NotFound(f"no tenant {name}")

    def domain_tenant(self, domain: str) -> str | None:
        try:
            name = addresses.normalize_domain(domain)
        except ValueError:
            return None
        with self._reading():
            row = self._db.execute("SELECT tenant FROM domains WHERE name = ?",
                                   (name,)).fetchone()
        return None if row is None else str(row[0])

    def add_api_key(self, tenant: str, key_id: str, digest: str, scope: str,
                    name: str = "") -> ApiKey:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
        key = ApiKey(key_id, tenant, scope, name, self._clock())
        with self._transaction():
            if self._db.execute("SELECT 1 FROM tenants WHERE name = ?",
                                (tenant,)).fetchone() is None:
                raise NotFound(f"no tenant {tenant}")
            self._db.execute(
                "INSERT INTO api_keys (id, tenant, secret_hash, scope, name, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)", (key_id, tenant, digest, scope, name, key.created_at))
        return key

    def api_key(self, key_id: str) -> tuple[ApiKey, str] | None:
        with self._reading():
            row = self._db.execute(f"SELECT {_KEY_COLUMNS}, secret_hash FROM api_keys"
                                   " WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else (ApiKey(*row[:-1]), str(row[-1]))

    def list_api_keys(self, tenant: str) -> list[ApiKey]:
        with self._reading():
            rows = self._db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant = ?"
                                    " ORDER BY created_at, id", (tenant,))
            return [ApiKey(*row) for row in rows]

    def revoke_api_key(self, tenant: str, key_id: str) -> None:
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?)"
                " WHERE tenant = ? AND id = ?", (self._clock(), tenant, key_id))
            if cursor.rowcount == 0:
                raise NotFound(f"tenant {tenant} has no key {key_id}")

    def touch_api_key(self, key_id: str, when: float) -> None:
        with self._transaction():
            self._db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                             (when, key_id))


