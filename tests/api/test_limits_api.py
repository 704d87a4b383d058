"""Per-tenant sending limits: a send that would pass the hourly or daily limit is refused
with 429 and Retry-After; other tenants are not held back."""

from __future__ import annotations

import httpx

from postoffice.testing.api import World


def test_hourly_and_daily_limits(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]
    store = world.store()
    try:
        store.set_tenant_limits("acme", hourly=3, daily=None, retention_days=60)
    finally:
        store.close()

    def body(*to: str, domain: str = acme.domain) -> dict[str, object]:
        return {"from": f"shop@{domain}", "to": list(to), "text": "x"}

    async def test(client: httpx.AsyncClient) -> None:
        ok = await client.post("/v1/messages", json=body("a@far.example", "b@far.example"),
                               headers=acme.auth("send"))
        assert ok.status_code == 202
        over = await client.post("/v1/messages", json=body("c@far.example", "d@far.example"),
                                 headers=acme.auth("send"))
        assert over.status_code == 429, over.text
        assert over.json()["error"]["code"] == "rate_limited"
        assert "hourly sending limit of 3" in over.json()["error"]["message"]
        assert 0 < int(over.headers["retry-after"]) <= 3601
        last = await client.post("/v1/messages", json=body("c@far.example"),
                                 headers=acme.auth("send"))
        assert last.status_code == 202  # exactly at the limit
        others = await client.post("/v1/messages", json=body(
            "a@far.example", "b@far.example", "c@far.example", "d@far.example",
            domain=default.domain), headers=default.auth("send"))
        assert others.status_code == 202

    world.run(test)

    store = world.store()
    try:
        store.set_tenant_limits("acme", hourly=None, daily=3, retention_days=60)
    finally:
        store.close()

    async def daily(client: httpx.AsyncClient) -> None:
        over = await client.post("/v1/messages", json=body("e@far.example"),
                                 headers=acme.auth("send"))
        assert over.status_code == 429
        assert "daily sending limit of 3" in over.json()["error"]["message"]

    world.run(daily)
