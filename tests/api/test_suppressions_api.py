"""/v1/suppressions and the send path honouring them: per tenant, per category, CSV in and out."""

from __future__ import annotations

import httpx

from postoffice.storage.events import LogQuery
from postoffice.testing.api import World


def test_suppressed_recipients_are_left_out(world: World) -> None:
    acme = world.tenants["acme"]

    async def test(client: httpx.AsyncClient) -> None:
        added = await client.post("/v1/suppressions", json={"address": "Gone@Far.Example"},
                                  headers=acme.auth())
        assert added.status_code == 201, added.text
        assert (added.json()["address"], added.json()["reason"]) == ("gone@far.example",
                                                                     "manual")
        sent = await client.post("/v1/messages", json={
            "from": f"shop@{acme.domain}", "to": ["ann@far.example", "gone@far.example"],
            "subject": "Order", "text": "hi"}, headers=acme.auth("send"))
        assert sent.status_code == 202, sent.text
        assert sent.json()["recipients"] == [
            {"address": "ann@far.example", "status": "queued"},
            {"address": "gone@far.example", "status": "suppressed"}]
        detail = (await client.get(f"/v1/messages/{sent.json()['id']}",
                                   headers=acme.auth("read"))).json()
        assert detail["recipients"] == [{"address": "ann@far.example", "status": "queued"}]
        suppressed = [e for e in detail["events"] if e["type"] == "suppressed"]
        assert [(e["recipient"], e["reason"]) for e in suppressed] == [
            ("gone@far.example", "manual")]

        # Every recipient suppressed: still 202, the message is in the log, nothing queued.
        alone = await client.post("/v1/messages", json={
            "from": f"shop@{acme.domain}", "to": ["GONE@far.example"], "text": "hi"},
            headers=acme.auth("send"))
        assert alone.status_code == 202, alone.text
        assert [r["status"] for r in alone.json()["recipients"]] == ["suppressed"]
        detail = (await client.get(f"/v1/messages/{alone.json()['id']}",
                                   headers=acme.auth("read"))).json()
        assert detail["recipients"] == []
        assert [e["type"] for e in detail["events"]] == ["accepted", "suppressed"]

    world.run(test)
    with world.store() as store:
        queued = store.search_messages("acme", LogQuery(recipient="gone@far.example"))
        assert queued == []


def test_category_scopes(world: World) -> None:
    default = world.tenants["default"]

    async def send(client: httpx.AsyncClient, category: str) -> str:
        sent = await client.post("/v1/messages", json={
            "from": f"news@{default.domain}", "to": ["ann@far.example"], "text": "hi",
            "category": category}, headers=default.auth("send"))
        assert sent.status_code == 202, sent.text
        return str(sent.json()["recipients"][0]["status"])

    async def test(client: httpx.AsyncClient) -> None:
        added = await client.post("/v1/suppressions", json={
            "address": "ann@far.example", "reason": "unsubscribe", "category": "news"},
            headers=default.auth())
        assert added.status_code == 201
        assert await send(client, "news") == "suppressed"
        assert await send(client, "orders") == "queued"
        assert await send(client, "") == "queued"
        removed = await client.delete("/v1/suppressions/ann@far.example",
                                      params={"category": "news"}, headers=default.auth())
        assert removed.status_code == 204
        assert await send(client, "news") == "queued"

    world.run(test)


def test_list_filters_and_scopes(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        for address, reason in (("a@far.example", "manual"), ("b@far.example", "complaint"),
                                ("c@far.example", "unsubscribe")):
            response = await client.post("/v1/suppressions", json={
                "address": address, "reason": reason}, headers=default.auth())
            assert response.status_code == 201
        listed = await client.get("/v1/suppressions", headers=default.auth("read"))
        assert [s["address"] for s in listed.json()["suppressions"]] == [
            "c@far.example", "b@far.example", "a@far.example"]
        page = (await client.get("/v1/suppressions", params={"limit": 2},
                                 headers=default.auth("read"))).json()
        rest = (await client.get("/v1/suppressions", params={"before": page["next_before"]},
                                 headers=default.auth("read"))).json()
        assert [s["address"] for s in rest["suppressions"]] == ["a@far.example"]
        by_reason = (await client.get("/v1/suppressions", params={"reason": "complaint"},
                                      headers=default.auth("read"))).json()
        assert [s["address"] for s in by_reason["suppressions"]] == ["b@far.example"]
        by_address = (await client.get("/v1/suppressions", params={"address": "A@far.example"},
                                       headers=default.auth("read"))).json()
        assert [s["address"] for s in by_address["suppressions"]] == ["a@far.example"]

        assert (await client.get("/v1/suppressions",
                                 headers=default.auth("send"))).status_code == 403
        refused = await client.post("/v1/suppressions", json={"address": "d@far.example"},
                                    headers=default.auth("read"))
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
        assert (await client.delete("/v1/suppressions/a@far.example",
                                    headers=default.auth("read"))).status_code == 403
        bad = await client.post("/v1/suppressions", json={"address": "x@far.example",
                                                          "reason": "dislike"},
                                headers=default.auth())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "reason")
        bad = await client.post("/v1/suppressions", json={"address": "not an address"},
                                headers=default.auth())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "address")
        missing = await client.delete("/v1/suppressions/nobody@far.example",
                                      headers=default.auth())
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
        slashed = await client.post("/v1/suppressions", json={"address": "a/b@far.example"},
                                    headers=default.auth())
        assert slashed.status_code == 201, slashed.text
        assert (await client.delete("/v1/suppressions/a%2Fb@far.example",
                                    headers=default.auth())).status_code == 204

    world.run(test)


def test_csv_export_and_import(world: World) -> None:
    default = world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        body = ("address,reason,category,created_at,expires_at\r\n"
                "ann@far.example,hard_bounce,,1700000000,\r\n"
                "bob@far.example,unsubscribe,news,2024-06-01T10:00:00+00:00,\r\n"
                "not an address,manual,,,\r\n"
                "cy@far.example,because,,,\r\n"
                "dee@far.example\r\n")
        imported = await client.post("/v1/suppressions.csv", content=body.encode(),
                                     headers={**default.auth(), "Content-Type": "text/csv"})
        assert imported.status_code == 200, imported.text
        result = imported.json()
        assert result["imported"] == 3
        assert [e["line"] for e in result["errors"]] == [4, 5]
        exported = await client.get("/v1/suppressions.csv", headers=default.auth("read"))
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.splitlines()
        assert lines[0] == "address,reason,category,created_at,expires_at"
        assert lines[1] == "ann@far.example,hard_bounce,,1700000000.0,"
        assert lines[2].startswith("bob@far.example,unsubscribe,news,1717236000.0,")
        assert lines[3].startswith("dee@far.example,manual,,")
        wrong_type = await client.post("/v1/suppressions.csv", content=b"{}",
                                       headers={**default.auth(),
                                                "Content-Type": "application/json"})
        assert wrong_type.status_code == 415
        assert wrong_type.json()["error"]["code"] == "unsupported_media_type"
        assert (await client.post("/v1/suppressions.csv", content=body.encode(),
                                  headers={**default.auth("read"),
                                           "Content-Type": "text/csv"})).status_code == 403

    world.run(test)


def test_suppressions_are_per_tenant(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        added = await client.post("/v1/suppressions", json={"address": "ann@far.example"},
                                  headers=acme.auth())
        assert added.status_code == 201
        theirs = (await client.get("/v1/suppressions", headers=default.auth())).json()
        assert theirs["suppressions"] == []
        csv = (await client.get("/v1/suppressions.csv", headers=default.auth())).text
        assert "ann@far.example" not in csv
        gone = await client.delete("/v1/suppressions/ann@far.example", headers=default.auth())
        assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
        sent = await client.post("/v1/messages", json={
            "from": f"x@{default.domain}", "to": ["ann@far.example"], "text": "hi"},
            headers=default.auth("send"))
        assert sent.json()["recipients"][0]["status"] == "queued"
        ours = (await client.get("/v1/suppressions", headers=acme.auth())).json()
        assert [s["address"] for s in ours["suppressions"]] == ["ann@far.example"]

    world.run(test)
