"""POST /v1/messages/batch, Idempotency-Key and send_at."""

from __future__ import annotations

import time

import httpx

from postoffice.testing.api import World


def test_batch_from_a_stored_template(world: World) -> None:
    acme = world.tenants["acme"]

    async def test(client: httpx.AsyncClient) -> None:
        stored = await client.put("/v1/templates/welcome", headers=acme.auth(), json={
            "subject": "Welcome {{ name }}", "text": "Hi {{ name }}, code {{ code }}",
            "html": "<p>Hi {{ name }}</p>"})
        assert stored.status_code == 200
        recipients = [{"to": f"User {i} <u{i}@far.example>",
                       "variables": {"name": f"<U{i}>", "code": i}} for i in range(5)]
        recipients.append({"to": "broken@far.example", "variables": {"name": "no code"}})
        recipients.append({"to": "not an address", "variables": {"name": "x", "code": 1}})
        sent = await client.post("/v1/messages/batch", headers=acme.auth("send"), json={
            "from": f"News <news@{acme.domain}>", "template": "welcome", "category": "welcome",
            "recipients": recipients})
        assert sent.status_code == 202, sent.text
        results = sent.json()["messages"]
        assert [r["status"] for r in results] == ["queued"] * 5 + ["rejected"] * 2
        assert len({r["id"] for r in results[:5]}) == 5
        assert results[5]["error"]["field"] == "recipients[5].variables"
        assert results[6]["error"]["field"] == "recipients[6].to"
        raw = (await client.get(f"/v1/messages/{results[2]['id']}/raw",
                                headers=acme.auth("read"))).content
        assert b"Subject: Welcome <U2>\r\n" in raw and b"code 2" in raw
        assert b"&lt;U2&gt;" in raw  # escaped in the HTML part
        assert b"u3@far.example" not in raw  # each message has its own recipient
        detail = (await client.get(f"/v1/messages/{results[0]['id']}",
                                   headers=acme.auth("read"))).json()
        assert detail["category"] == "welcome"

    world.run(test)


def test_batch_errors(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        base = {"from": f"news@{acme.domain}", "text": "hi",
                "recipients": [{"to": "a@far.example"}]}
        missing = await client.post("/v1/messages/batch", headers=acme.auth("send"),
                                    json={**base, "text": None, "template": "nope"})
        assert (missing.status_code, missing.json()["error"]["field"]) == (422, "template")
        both = await client.post("/v1/messages/batch", headers=acme.auth("send"),
                                 json={**base, "template": "x"})
        assert both.status_code == 422
        too_many = await client.post("/v1/messages/batch", headers=acme.auth("send"), json={
            **base, "recipients": [{"to": f"u{i}@far.example"} for i in range(1001)]})
        assert too_many.status_code == 422
        other = await client.post("/v1/messages/batch", headers=default.auth("send"), json=base)
        assert (other.status_code, other.json()["error"]["field"]) == (403, "from")

    world.run(test)


def test_idempotency_key(world: World) -> None:
    default = world.tenants["default"]
    body = {"from": "shop@example.test", "to": ["a@far.example"], "text": "once"}

    async def test(client: httpx.AsyncClient) -> None:
        key = {"Idempotency-Key": "order-42"}
        first = await client.post("/v1/messages", json=body,
                                  headers={**default.auth("send"), **key})
        again = await client.post("/v1/messages", json=body,
                                  headers={**default.auth("send"), **key})
        assert first.status_code == again.status_code == 202
        assert first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"
        other = await client.post("/v1/messages", json={**body, "text": "twice"},
                                  headers={**default.auth("send"), **key})
        assert (other.status_code, other.json()["error"]["code"]) == (409, "conflict")
        listed = (await client.get("/v1/messages", headers=default.auth("read"))).json()
        assert len(listed["messages"]) == 1  # sent once
        # another tenant's same key is its own
        acme = world.tenants["acme"]
        theirs = await client.post("/v1/messages", headers={**acme.auth("send"), **key}, json={
            **body, "from": f"shop@{acme.domain}"})
        assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
        # a failed call does not keep its key
        bad = await client.post("/v1/messages", json={**body, "subject": "a\r\nb"},
                                headers={**default.auth("send"), "Idempotency-Key": "k2"})
        assert bad.status_code == 422
        fixed = await client.post("/v1/messages", json=body,
                                  headers={**default.auth("send"), "Idempotency-Key": "k2"})
        assert fixed.status_code == 202

    world.run(test)


def test_send_at_schedules_the_queue(world: World) -> None:
    default = world.tenants["default"]
    later = time.time() + 3600

    async def test(client: httpx.AsyncClient) -> None:
        sent = await client.post("/v1/messages", headers=default.auth("send"), json={
            "from": "shop@example.test", "to": ["a@far.example"], "text": "later",
            "send_at": later})
        assert sent.status_code == 202, sent.text
        past = await client.post("/v1/messages", headers=default.auth("send"), json={
            "from": "shop@example.test", "to": ["a@far.example"], "text": "x",
            "send_at": time.time() - 86400})
        assert (past.status_code, past.json()["error"]["field"]) == (422, "send_at")
        far = await client.post("/v1/messages", headers=default.auth("send"), json={
            "from": "shop@example.test", "to": ["a@far.example"], "text": "x",
            "send_at": time.time() + 30 * 86400})
        assert far.status_code == 422

    world.run(test)
    store = world.store()
    try:
        [item] = store.list_queue()
        assert abs(item.next_attempt_at - later) < 1
    finally:
        store.close()


def test_batch_flags_and_limits(world: World) -> None:
    acme = world.tenants["acme"]
    store = world.store()
    try:
        store.set_tenant_limits("acme", hourly=2, daily=None, retention_days=60)
    finally:
        store.close()

    async def test(client: httpx.AsyncClient) -> list[str]:
        base = {"from": f"news@{acme.domain}", "text": "hi {{ n }}", "lane": "transactional",
                "track_opens": True, "track_clicks": True, "unsubscribe": True}
        sent = await client.post("/v1/messages/batch", headers=acme.auth("send"), json={
            **base, "recipients": [{"to": "a@far.example", "variables": {"n": 1}},
                                   {"to": "b@far.example", "variables": {"n": 2}}]})
        assert sent.status_code == 202, sent.text
        ids = [m["id"] for m in sent.json()["messages"]]
        over = await client.post("/v1/messages/batch", headers=acme.auth("send"), json={
            **base, "recipients": [{"to": "c@far.example", "variables": {"n": 3}}]})
        assert (over.status_code, over.json()["error"]["code"]) == (429, "rate_limited")
        return ids

    ids = world.run(test)
    store = world.store()
    try:
        for message_id in ids:
            message = store.get_message(message_id)
            assert message is not None
            assert (message.track_opens, message.track_clicks, message.unsubscribe) == (
                True, True, True)
    finally:
        store.close()
