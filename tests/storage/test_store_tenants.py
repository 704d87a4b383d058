"""The tenant part of the Store contract: tenants, domain ownership, API keys."""

from __future__ import annotations

import pytest

from postoffice.policy import api_keys
from postoffice.storage import AlreadyExists, NotFound, Store


def test_every_install_has_the_default_tenant(store: Store) -> None:
    assert [t.name for t in store.list_tenants()] == ["default"]
    default = store.get_tenant("default")
    assert default is not None and default.retention_days == 60 and default.created_at > 0


def test_tenants_and_domain_ownership(store: Store) -> None:
    acme = store.add_tenant("acme", retention_days=30)
    assert (acme.name, acme.retention_days) == ("acme", 30)
    with pytest.raises(AlreadyExists):
        store.add_tenant("acme")
    for bad in ("", "Acme", "a b", "-x", "x" * 64):
        with pytest.raises(ValueError):
            store.add_tenant(bad)
    store.add_domain("example.org")
    store.add_domain("acme.example", tenant="acme")
    with pytest.raises(NotFound):
        store.add_domain("other.example", tenant="missing")
    assert not store.is_local_domain("other.example")
    assert {d.name: d.tenant for d in store.list_domains()} == {
        "example.org": "default", "acme.example": "acme"}
    assert store.domain_tenant("ACME.example") == "acme"
    assert store.domain_tenant("nowhere.example") is None
    store.set_tenant_limits("acme", hourly=100, daily=1000, retention_days=90)
    limited = store.get_tenant("acme")
    assert limited is not None and (limited.hourly_limit, limited.daily_limit,
                                    limited.retention_days) == (100, 1000, 90)
    with pytest.raises(NotFound):
        store.set_tenant_limits("missing", hourly=None, daily=None, retention_days=60)
    with pytest.raises(ValueError):
        store.set_tenant_limits("acme", hourly=-1, daily=None, retention_days=60)


def test_api_keys_are_kept_hashed_and_revocable(store: Store) -> None:
    store.add_tenant("acme")
    new = api_keys.make_key()
    key = store.add_api_key("acme", new.id, new.digest, "send", "ci")
    assert (key.id, key.tenant, key.scope, key.name, key.revoked_at) == (
        new.id, "acme", "send", "ci", None)
    found = store.api_key(new.id)
    assert found is not None
    stored, digest = found
    assert digest == new.digest and new.key not in digest
    assert api_keys.matches(new.key, digest)
    assert [k.id for k in store.list_api_keys("acme")] == [new.id]
    assert store.list_api_keys("default") == []
    with pytest.raises(NotFound):
        store.revoke_api_key("default", new.id)  # another tenant's key
    store.touch_api_key(new.id, 1_800_000_000.0)
    store.revoke_api_key("acme", new.id)
    after = store.api_key(new.id)
    assert after is not None and after[0].revoked_at is not None
    assert after[0].last_used_at == 1_800_000_000.0
    with pytest.raises(NotFound):
        store.add_api_key("missing", "0" * 12, "x", "send")
    with pytest.raises(ValueError):
        store.add_api_key("acme", "1" * 12, "x", "root")
    assert store.api_key("f" * 12) is None
