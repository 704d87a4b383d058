"""POST/GET /v1/messages over a real store: sending, the log, timelines, raw content, errors
with the field named, and keys that only reach their own tenant."""

from __future__ import annotations

import httpx

from postoffice.testing.api import World, b64


def message(world: World, tenant: str = "default", **fields: object) -> dict[str, object]:
    domain = world.tenants[tenant].domain
    body: dict[str, object] = {"from": f"Shop <orders@{domain}>", "to": ["Ann <ann@far.example>"],
                               "subject": "Your order", "text": "Thanks!", "category": "orders",
                               "metadata": {"order": "42"}}
    body.update(fields)
    return body


def test_send_then_read_the_log(world: World) -> None:
    auth = world.tenants["default"].auth("send")
    read = world.tenants["default"].auth("read")

    async def test(client: httpx.AsyncClient) -> None:
        sent = await client.post("/v1/messages", json=message(world, bcc=["bo@far.example"]),
                                 headers=auth)
        assert sent.status_code == 202, sent.text
        accepted = sent.json()
        assert accepted["recipients"] == [{"address": "ann@far.example", "status": "queued"},
                                          {"address": "bo@far.example", "status": "queued"}]
        assert accepted["message_id"].endswith("@mail.example.test>")
        detail = (await client.get(f"/v1/messages/{accepted['id']}", headers=read)).json()
        assert (detail["subject"], detail["category"], detail["metadata"], detail["source"]) == (
            "Your order", "orders", {"order": "42"}, "api")
        assert detail["mail_from"] == "orders@example.test"
        assert [(e["type"], e["recipient"]) for e in detail["events"]] == [
            ("accepted", ""), ("queued", "ann@far.example"), ("queued", "bo@far.example")]
        raw = await client.get(f"/v1/messages/{accepted['id']}/raw", headers=read)
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert b"Subject: Your order\r\n" in raw.content and b"bo@far.example" not in raw.content
        found = (await client.get("/v1/messages", params={"recipient": "bo@far.example"},
                                  headers=read)).json()
        assert [m["id"] for m in found["messages"]] == [accepted["id"]]
        none = (await client.get("/v1/messages", params={"subject": "nothing like it"},
                                 headers=read)).json()
        assert none == {"messages": [], "next_before": None}

    world.run(test)


def test_raw_messages(world: World) -> None:
    auth = world.tenants["default"].auth("send")
    raw = (b"From: orders@example.test\nTo: ann@far.example\nBcc: hidden@far.example\n"
           b"Subject: =?utf-8?q?Caf=C3=A9?=\n\nbody\n")

    async def test(client: httpx.AsyncClient) -> None:
        sent = await client.post("/v1/messages", json={"raw": b64(raw)}, headers=auth)
        assert sent.status_code == 202, sent.text
        assert [r["address"] for r in sent.json()["recipients"]] == ["ann@far.example",
                                                                     "hidden@far.example"]
        stored = (await client.get(f"/v1/messages/{sent.json()['id']}/raw",
                                   headers=world.tenants["default"].auth("read"))).content
        assert b"Bcc:" not in stored and b"\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n" in stored
        assert b"Message-ID: <" in stored and b"Date: " in stored
        logged = (await client.get(f"/v1/messages/{sent.json()['id']}",
                                   headers=world.tenants["default"].auth("read"))).json()
        assert logged["subject"] == "Café"
        bad = await client.post("/v1/messages", json={"raw": "%%%"}, headers=auth)
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "raw")
        mixed = await client.post("/v1/messages", json={"raw": b64(raw), "subject": "x"},
                                  headers=auth)
        assert (mixed.status_code, mixed.json()["error"]["field"]) == (422, "subject")

    world.run(test)


def test_header_injection_and_bad_fields_name_the_field(world: World) -> None:
    auth = world.tenants["default"].auth("send")
    cases = {
        "subject": {"subject": "Hi\r\nBcc: victim@far.example"},
        "to[1]": {"to": ["ann@far.example", "x@far.example\r\nBcc: v@far.example"]},
        "from": {"from": "orders@example.test\nBcc: v@far.example"},
        "headers.X-Tag": {"headers": {"X-Tag": "a\r\nBcc: v@far.example"}},
        "attachments[0].filename": {"attachments": [{"filename": "a\r\n.txt",
                                                     "content": b64(b"x")}]},
        "attachments[0].content": {"attachments": [{"filename": "a.txt", "content": "@@"}]},
        "category": {"category": "bad category!"},
        "lane": {"lane": "express"},
        "unknown": {"unknown": 1},
    }

    async def test(client: httpx.AsyncClient) -> None:
        for field, change in cases.items():
            response = await client.post("/v1/messages", json=message(world, **change),
                                         headers=auth)
            assert response.status_code == 422, (field, response.text)
            error = response.json()["error"]
            assert (error["code"], error["field"]) == ("invalid", field), (field, error)
            assert error["message"]
        bad_json = await client.post("/v1/messages", content=b"{not json", headers={
            **auth, "Content-Type": "application/json"})
        assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "bad_json")
        listed = (await client.get("/v1/messages", headers=world.tenants["default"].auth(
            "read"))).json()
        assert listed["messages"] == []  # nothing was sent

    world.run(test)


def test_keys_scopes_and_errors(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                        {"Authorization": "Bearer " + default.keys["send"][:-2] + "xx"}):
            response = await client.get("/v1/messages", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
        forbidden = await client.get("/v1/messages", headers=default.auth("send"))
        assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "forbidden")
        assert (await client.get("/v1/api-keys", headers=default.auth("read"))).status_code == 403
        missing = await client.get("/v1/nothing", headers=default.auth())
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
        spec = (await client.get("/v1/openapi.json")).json()
        assert {"/v1/messages", "/v1/messages/{message_id}", "/v1/domains",
                "/v1/api-keys"} <= set(spec["paths"])

    world.run(test)


def test_a_revoked_key_stops_at_once(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        made = await client.post("/v1/api-keys", json={"scope": "read", "name": "tmp"},
                                 headers=default.auth())
        assert made.status_code == 201
        key = made.json()
        headers = {"Authorization": f"Bearer {key['key']}"}
        assert (await client.get("/v1/messages", headers=headers)).status_code == 200
        listed = (await client.get("/v1/api-keys", headers=default.auth())).json()
        assert key["id"] in [k["id"] for k in listed] and "key" not in listed[0]
        assert (await client.delete(f"/v1/api-keys/{key['id']}",
                                    headers=default.auth())).status_code == 204
        gone = await client.get("/v1/messages", headers=headers)
        assert (gone.status_code, gone.json()["error"]["message"]) == (
            401, "this API key was revoked")

    world.run(test)


def test_body_limit(world: World) -> None:
    auth = world.tenants["default"].auth("send")

    async def test(client: httpx.AsyncClient) -> None:
        big = message(world, text="x" * 5000)
        response = await client.post("/v1/messages", json=big, headers=auth)
        assert (response.status_code, response.json()["error"]["code"]) == (413, "too_large")

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b" " * 1000

        streamed = await client.post("/v1/messages", content=chunks(), headers={
            **auth, "Content-Type": "application/json"})
        assert streamed.status_code == 413

    async def main() -> None:
        async with world.client(max_body=4000) as client:
            await test(client)

    import asyncio
    asyncio.run(main())


def test_local_recipients_get_the_message_in_their_mailbox(world: World) -> None:
    store = world.store()
    try:
        store.add_user("bob@example.test", "x")
    finally:
        store.close()
    auth = world.tenants["default"].auth("send")

    async def test(client: httpx.AsyncClient) -> None:
        sent = await client.post("/v1/messages", json=message(
            world, to=["bob@example.test", "ann@far.example"]), headers=auth)
        assert sent.status_code == 202, sent.text
        assert sent.json()["recipients"] == [
            {"address": "bob@example.test", "status": "delivered"},
            {"address": "ann@far.example", "status": "queued"}]

    world.run(test)
    store = world.store()
    try:
        assert len(store.list_mailbox("bob@example.test")) == 1
    finally:
        store.close()
