"""/v1/webhooks: the life of a webhook, validation with the field named, scopes, the secret
shown only when made or rotated, deliveries with their attempts, and tenant isolation."""

from __future__ import annotations

import time

import httpx

from postoffice.storage.webhooks import WebhookAttempt, WebhookResult
from postoffice.testing.api import World

HOOK = {"url": "https://hooks.example/postoffice", "events": ["delivered", "bounced"]}


def test_webhook_life(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        made = await client.post("/v1/webhooks", json=HOOK, headers=default.auth())
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
        assert (hook["url"], hook["events"], hook["active"]) == (
            HOOK["url"], ["delivered", "bounced"], True)
        path = f"/v1/webhooks/{hook['id']}"
        read = (await client.get(path, headers=default.auth("read"))).json()
        assert "secret" not in read and read["id"] == hook["id"]
        listed = (await client.get("/v1/webhooks", headers=default.auth("read"))).json()
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

        changed = await client.patch(path, json={"events": ["*"], "active": False},
                                     headers=default.auth())
        assert changed.status_code == 200, changed.text
        assert (changed.json()["events"], changed.json()["active"]) == (["*"], False)
        again = await client.patch(path, json={"url": "http://hooks.example:8080/x",
                                               "active": True}, headers=default.auth())
        assert (again.json()["url"], again.json()["events"]) == (
            "http://hooks.example:8080/x", ["*"])

        rotated = await client.post(f"{path}/rotate-secret", headers=default.auth())
        assert rotated.status_code == 200
        assert rotated.json()["secret"] != hook["secret"]

        queued = await client.post(f"{path}/test", headers=default.auth())
        assert queued.status_code == 202, queued.text
        assert (queued.json()["event_type"], queued.json()["status"],
                queued.json()["attempts"]) == ("test", "pending", [])

        assert (await client.delete(path, headers=default.auth())).status_code == 204
        assert (await client.get(path, headers=default.auth())).status_code == 404
        assert (await client.delete(path, headers=default.auth())).status_code == 404

    world.run(test)


def test_validation_names_the_field(world: World) -> None:
    default = world.tenants["default"]
    cases = [
        ({"url": "ftp://hooks.example/", "events": ["*"]}, "url"),
        ({"url": "https://user:pw@hooks.example/", "events": ["*"]}, "url"),
        ({"url": "https://hooks.example/" + "a" * 2000, "events": ["*"]}, "url"),
        ({"url": "https://hooks.example/a b", "events": ["*"]}, "url"),
        ({"url": "https:///nohost", "events": ["*"]}, "url"),
        ({"url": "https://hooks.example/", "events": ["delivered", "deliverd"]}, "events[1]"),
        ({"url": "https://hooks.example/", "events": ["delivered", "*"]}, "events[1]"),
        ({"url": "https://hooks.example/", "events": []}, "events"),
        ({"url": "https://hooks.example/"}, "events"),
        ({"url": "https://hooks.example/", "events": ["*"], "secret": "mine"}, "secret"),
    ]

    async def test(client: httpx.AsyncClient) -> None:
        for body, field in cases:
            answer = await client.post("/v1/webhooks", json=body, headers=default.auth())
            error = answer.json()["error"]
            assert (answer.status_code, error["code"], error["field"]) == (
                422, "invalid", field), body
        made = (await client.post("/v1/webhooks", json={"url": "https://h.example/",
                                                        "events": ["*"]},
                                  headers=default.auth())).json()
        bad = await client.patch(f"/v1/webhooks/{made['id']}", json={"url": "javascript:x"},
                                 headers=default.auth())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "url")
        bad = await client.get(f"/v1/webhooks/{made['id']}/deliveries",
                               params={"status": "lost"}, headers=default.auth())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "status")

    world.run(test)


def test_scopes(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        made = (await client.post("/v1/webhooks", json=HOOK, headers=default.auth())).json()
        path = f"/v1/webhooks/{made['id']}"
        for scope in ("send", "read"):
            for method, url in (("POST", "/v1/webhooks"), ("PATCH", path), ("DELETE", path),
                                ("POST", f"{path}/rotate-secret"), ("POST", f"{path}/test")):
                body = HOOK if url == "/v1/webhooks" else ({} if method == "PATCH" else None)
                answer = await client.request(method, url, json=body,
                                              headers=default.auth(scope))
                assert answer.status_code == 403, (scope, method, url)
        for url in ("/v1/webhooks", path, f"{path}/deliveries"):
            assert (await client.get(url, headers=default.auth("send"))).status_code == 403
            assert (await client.get(url, headers=default.auth("read"))).status_code == 200
        assert (await client.get("/v1/webhooks")).status_code == 401

    world.run(test)


def test_deliveries_with_their_attempts_and_paging(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        made = (await client.post("/v1/webhooks", json=HOOK, headers=default.auth())).json()
        path = f"/v1/webhooks/{made['id']}"
        ids = [(await client.post(f"{path}/test", headers=default.auth())).json()["id"]
               for _ in range(3)]
        store = world.store()
        try:
            now = time.time()
            jobs = store.claim_webhook_deliveries(now + 1, 1, lease=60)
            store.finish_webhook_deliveries([WebhookResult(
                jobs[0].delivery_id, WebhookAttempt(now, 500, "answered 500", 0.25), "pending",
                now + 30)])
        finally:
            store.close()
        page = (await client.get(f"{path}/deliveries", params={"limit": 2},
                                 headers=default.auth("read"))).json()
        assert [d["id"] for d in page["deliveries"]] == [ids[2], ids[1]]
        rest = (await client.get(f"{path}/deliveries", params={"before": page["next_before"]},
                                 headers=default.auth("read"))).json()
        assert [d["id"] for d in rest["deliveries"]] == [ids[0]] and rest["next_before"] is None
        tried = rest["deliveries"][0]
        assert tried["attempts"] == [{"at": now, "status_code": 500, "error": "answered 500",
                                      "duration": 0.25}]
        assert (tried["status"], tried["last_status_code"], tried["next_attempt_at"]) == (
            "pending", 500, now + 30)
        failed = (await client.get(f"{path}/deliveries", params={"status": "failed"},
                                   headers=default.auth("read"))).json()
        assert failed["deliveries"] == []

    world.run(test)


def test_tenants_never_see_each_others_webhooks(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        theirs = (await client.post("/v1/webhooks", json=HOOK, headers=acme.auth())).json()
        path = f"/v1/webhooks/{theirs['id']}"
        assert (await client.get("/v1/webhooks", headers=default.auth())).json() == []
        for method, url, body in (("GET", path, None), ("PATCH", path, {"active": False}),
                                  ("DELETE", path, None), ("POST", f"{path}/rotate-secret", None),
                                  ("POST", f"{path}/test", None),
                                  ("GET", f"{path}/deliveries", None)):
            answer = await client.request(method, url, json=body, headers=default.auth())
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found"), \
                (method, url)
        still = (await client.get(path, headers=acme.auth())).json()
        assert still["active"] is True
        assert (await client.get(f"{path}/deliveries", headers=acme.auth())).json() == {
            "deliveries": [], "next_before": None}

    world.run(test)
