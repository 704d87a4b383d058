"""GET /v1/stats: counts and rates of the caller's tenant only."""

from __future__ import annotations

import time

import httpx

from postoffice.storage.events import Event
from postoffice.testing.api import World


def test_stats_by_day_and_provider(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]

    async def send(client: httpx.AsyncClient) -> str:
        sent = await client.post("/v1/messages", json={
            "from": f"news@{acme.domain}", "to": ["a@far.example", "b@far.example"],
            "subject": "s", "text": "t", "category": "news"}, headers=acme.auth("send"))
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])

    message_id = world.run(send)
    now = time.time()
    store = world.store()
    try:
        store.record_events([
            Event(now, "acme", message_id, "delivered", "a@far.example", category="news",
                  provider="google"),
            Event(now, "acme", message_id, "bounced", "b@far.example", category="news",
                  provider="google", bounce="hard"),
            Event(now, "acme", message_id, "opened", "a@far.example", category="news"),
        ])
    finally:
        store.close()

    async def test(client: httpx.AsyncClient) -> None:
        daily = (await client.get("/v1/stats", headers=acme.auth("read"))).json()
        assert daily["group_by"] == "day" and len(daily["groups"]) == 1
        totals = daily["totals"]
        assert {k: v for k, v in totals["counts"].items() if v} == {
            "accepted": 1, "queued": 2, "delivered": 1, "bounced": 1, "hard_bounced": 1,
            "opened": 1}
        assert totals["rates"]["delivery"] == 0.5 and totals["rates"]["bounce"] == 0.5
        assert totals["rates"]["open"] == 1.0 and totals["rates"]["complaint"] == 0.0
        providers = (await client.get("/v1/stats", params={"group_by": "provider"},
                                      headers=acme.auth("read"))).json()
        google = next(g for g in providers["groups"] if g["key"] == "google")
        assert google["counts"]["delivered"] == 1
        others = (await client.get("/v1/stats", headers=default.auth("read"))).json()
        assert others["groups"] == [] and others["totals"]["rates"]["delivery"] is None
        bad = await client.get("/v1/stats", params={"group_by": "planet"},
                               headers=acme.auth("read"))
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "group_by")
        backwards = await client.get("/v1/stats", params={"since": now, "until": now - 10},
                                     headers=acme.auth("read"))
        assert (backwards.status_code, backwards.json()["error"]["field"]) == (422, "since")
        assert (await client.get("/v1/stats", headers=acme.auth("send"))).status_code == 403

    world.run(test)
