"""One tenant's keys never see or act on another tenant's messages, events, domains or keys:
every endpoint answers 404 (or 403 for sending as the other's domain)."""

from __future__ import annotations

import httpx

from postoffice.testing.api import World


def test_tenants_are_isolated(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]

    async def test(client: httpx.AsyncClient) -> None:
        sent = await client.post("/v1/messages", json={
            "from": f"news@{acme.domain}", "to": ["ann@far.example"], "subject": "acme only",
            "text": "hello"}, headers=acme.auth("send"))
        assert sent.status_code == 202, sent.text
        theirs = sent.json()["id"]
        assert (await client.get(f"/v1/messages/{theirs}", headers=acme.auth())).status_code \
            == 200
        for path in (f"/v1/messages/{theirs}", f"/v1/messages/{theirs}/raw"):
            response = await client.get(path, headers=default.auth())
            assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
        listed = (await client.get("/v1/messages", headers=default.auth())).json()
        assert theirs not in [m["id"] for m in listed["messages"]]
        searched = (await client.get("/v1/messages", params={"subject": "acme only"},
                                     headers=default.auth())).json()
        assert searched["messages"] == []

        as_other = await client.post("/v1/messages", json={
            "from": f"ceo@{acme.domain}", "to": ["ann@far.example"], "text": "pay this"},
            headers=default.auth("send"))
        assert (as_other.status_code, as_other.json()["error"]["field"]) == (403, "from")

        domains = (await client.get("/v1/domains", headers=default.auth())).json()
        assert [d["name"] for d in domains] == [default.domain]
        assert (await client.delete(f"/v1/domains/{acme.domain}",
                                    headers=default.auth())).status_code == 404
        taken = await client.post("/v1/domains", json={"name": acme.domain},
                                  headers=default.auth())
        assert taken.status_code == 409

        acme_keys = (await client.get("/v1/api-keys", headers=acme.auth())).json()
        default_keys = (await client.get("/v1/api-keys", headers=default.auth())).json()
        assert not {k["id"] for k in acme_keys} & {k["id"] for k in default_keys}
        for key in acme_keys:
            response = await client.delete(f"/v1/api-keys/{key['id']}", headers=default.auth())
            assert response.status_code == 404
        still = await client.get("/v1/messages", headers=acme.auth("read"))
        assert still.status_code == 200

    world.run(test)


def test_domains_crud(world: World) -> None:
    acme = world.tenants["acme"]

    async def test(client: httpx.AsyncClient) -> None:
        added = await client.post("/v1/domains", json={"name": "News.Acme.Example."},
                                  headers=acme.auth())
        assert (added.status_code, added.json()["name"]) == (201, "news.acme.example")
        bad = await client.post("/v1/domains", json={"name": "not a domain"},
                                headers=acme.auth())
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "name")
        assert (await client.post("/v1/domains", json={"name": "x.example"},
                                  headers=acme.auth("read"))).status_code == 403
        names = [d["name"] for d in (await client.get("/v1/domains", headers=acme.auth())).json()]
        assert names == ["acme.example", "news.acme.example"]
        assert (await client.delete("/v1/domains/news.acme.example",
                                    headers=acme.auth())).status_code == 204
        names = [d["name"] for d in (await client.get("/v1/domains", headers=acme.auth())).json()]
        assert names == ["acme.example"]

    world.run(test)
