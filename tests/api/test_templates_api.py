"""/v1/templates: CRUD, checks when stored, per tenant."""

from __future__ import annotations

import httpx

from postoffice.testing.api import World


def test_templates_crud(world: World) -> None:
    acme, default = world.tenants["acme"], world.tenants["default"]
    body = {"subject": "Welcome {{ name }}", "text": "Hi {{ name }}",
            "html": "<p>Hi {{ name }}</p>"}

    async def test(client: httpx.AsyncClient) -> None:
        put = await client.put("/v1/templates/welcome", json=body, headers=acme.auth())
        assert put.status_code == 200, put.text
        assert put.json()["name"] == "welcome" and put.json()["subject"] == body["subject"]
        got = (await client.get("/v1/templates/welcome", headers=acme.auth("read"))).json()
        assert got["html"] == body["html"]
        assert [t["name"] for t in (await client.get("/v1/templates",
                                                     headers=acme.auth("read"))).json()] == [
            "welcome"]
        broken = await client.put("/v1/templates/broken", json={"text": "{% for %}"},
                                  headers=acme.auth())
        assert (broken.status_code, broken.json()["error"]["field"]) == (422, "text")
        empty = await client.put("/v1/templates/empty", json={"subject": "x"},
                                 headers=acme.auth())
        assert empty.status_code == 422
        bad_name = await client.put("/v1/templates/bad%20name", json=body, headers=acme.auth())
        assert bad_name.status_code == 422
        assert (await client.put("/v1/templates/x", json=body,
                                 headers=acme.auth("read"))).status_code == 403
        # another tenant sees none of it
        assert (await client.get("/v1/templates/welcome",
                                 headers=default.auth())).status_code == 404
        assert (await client.delete("/v1/templates/welcome",
                                    headers=default.auth())).status_code == 404
        assert (await client.get("/v1/templates", headers=default.auth())).json() == []
        assert (await client.delete("/v1/templates/welcome",
                                    headers=acme.auth())).status_code == 204
        assert (await client.get("/v1/templates/welcome",
                                 headers=acme.auth())).status_code == 404

    world.run(test)
