"""GET /t/o/<token> and /t/c/<token>: events on the message's timeline and in the stats, the
redirect only to the signed URL, 404 for anything else."""

from __future__ import annotations

import asyncio
import time

import httpx

from postoffice.policy.tracking import TrackingToken, encode
from postoffice.storage.events import Event
from postoffice.testing.api import World

SECRET = b"s" * 32


def send_tracked(world: World, **tracking: bool) -> tuple[str, dict[str, int]]:
    """A message of acme to two remote recipients, marked delivered to both by google; its id
    and queue item ids by recipient."""
    acme = world.tenants["acme"]

    async def send(client: httpx.AsyncClient) -> str:
        sent = await client.post("/v1/messages", json={
            "from": f"news@{acme.domain}", "to": ["a@far.example", "b@far.example"],
            "subject": "s", "html": "<a href='https://shop.example/'>x</a>",
            "category": "news", **tracking}, headers=acme.auth("send"))
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])

    message_id = world.run(send)
    store = world.store()
    try:
        items = {i.recipient: i.id for i in store.list_queue() if i.message_id == message_id}
        message = store.get_message(message_id)
        assert message is not None
        assert (message.track_opens, message.track_clicks) == (
            tracking.get("track_opens", False), tracking.get("track_clicks", False))
        store.record_events([Event(time.time(), "acme", message_id, "delivered", r,
                                   category="news", provider="google", ip="192.0.2.1")
                             for r in items])
    finally:
        store.close()
    return message_id, items


def test_opens_and_clicks_become_events_and_stats(world: World) -> None:
    acme = world.tenants["acme"]
    message_id, items = send_tracked(world, track_opens=True, track_clicks=True)
    a, b = items["a@far.example"], items["b@far.example"]
    url = "https://shop.example/order?id=1&x=y"

    async def test(client: httpx.AsyncClient) -> None:
        opened = await client.get(f"/t/o/{encode(TrackingToken(message_id, a), SECRET)}")
        assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
        assert opened.content.startswith(b"GIF89a") and len(opened.content) == 42
        assert "no-store" in opened.headers["cache-control"]
        again = await client.get(f"/t/o/{encode(TrackingToken(message_id, a), SECRET)}")
        assert again.status_code == 200  # every open counts
        clicked = await client.get(f"/t/c/{encode(TrackingToken(message_id, b, url), SECRET)}")
        assert clicked.status_code == 302 and clicked.headers["location"] == url
        assert "no-store" in clicked.headers["cache-control"]

        detail = (await client.get(f"/v1/messages/{message_id}",
                                   headers=acme.auth("read"))).json()
        tracked = [(e["type"], e["recipient"], e["detail"]) for e in detail["events"]
                   if e["type"] in ("opened", "clicked")]
        assert tracked == [("opened", "a@far.example", ""), ("opened", "a@far.example", ""),
                           ("clicked", "b@far.example", url)]
        assert all(e["ip"] == "192.0.2.1" for e in detail["events"]
                   if e["type"] in ("opened", "clicked"))

        stats = (await client.get("/v1/stats", headers=acme.auth("read"))).json()["totals"]
        assert (stats["counts"]["opened"], stats["counts"]["clicked"]) == (2, 1)
        assert (stats["rates"]["open"], stats["rates"]["click"]) == (1.0, 0.5)
        providers = (await client.get("/v1/stats", params={"group_by": "provider"},
                                      headers=acme.auth("read"))).json()["groups"]
        google = next(g for g in providers if g["key"] == "google")
        assert (google["counts"]["opened"], google["counts"]["clicked"]) == (2, 1)
        categories = (await client.get("/v1/stats", params={"group_by": "category"},
                                       headers=acme.auth("read"))).json()["groups"]
        assert next(g for g in categories if g["key"] == "news")["counts"]["clicked"] == 1
        # nothing in the other tenant's log
        other = (await client.get("/v1/stats", headers=world.tenants["default"].auth("read")))
        assert other.json()["totals"]["counts"]["opened"] == 0

    async def run() -> None:
        async with world.client(tracking_secret=SECRET) as client:
            await test(client)

    asyncio.run(run())


def test_tampered_forged_and_confused_tokens_are_404(world: World) -> None:
    message_id, items = send_tracked(world, track_clicks=True)
    a = items["a@far.example"]
    good = encode(TrackingToken(message_id, a, "https://shop.example/"), SECRET)
    evil = encode(TrackingToken(message_id, a, "https://evil.example/"), b"not-our-secret")
    opening = encode(TrackingToken(message_id, a), SECRET)

    async def run() -> None:
        async with world.client(tracking_secret=SECRET) as client:
            for path in (f"/t/c/{good[:-2]}", f"/t/c/{good}x", f"/t/c/{evil}",
                         f"/t/c/{opening}",  # an open token is no link
                         f"/t/o/{good}",  # nor a link token an image
                         "/t/c/", "/t/o/%2e%2e", "/t/c/https%3A%2F%2Fevil.example%2F"):
                answer = await client.get(path)
                assert answer.status_code == 404, path
                assert "location" not in answer.headers
            assert (await client.get(f"/t/c/{good}")).status_code == 302
        async with world.client() as client:  # without a secret nothing verifies
            assert (await client.get(f"/t/c/{good}")).status_code == 404

    asyncio.run(run())
    store = world.store()
    try:
        events = store.message_events("acme", message_id)
    finally:
        store.close()
    assert [e.type for e in events if e.type in ("opened", "clicked")] == ["clicked"]


def test_a_valid_token_of_a_message_gone_still_redirects_without_an_event(world: World) -> None:
    token = encode(TrackingToken("01J9ZQ3V5W6X7Y8Z9A0B1C2D3E", 99, "https://shop.example/"),
                   SECRET)

    async def run() -> None:
        async with world.client(tracking_secret=SECRET) as client:
            answer = await client.get(f"/t/c/{token}")
            assert (answer.status_code, answer.headers["location"]) == (
                302, "https://shop.example/")
            gone = TrackingToken("01J9ZQ3V5W6X7Y8Z9A0B1C2D3E", 99)
            pixel = await client.get(f"/t/o/{encode(gone, SECRET)}")
            assert pixel.status_code == 200

    asyncio.run(run())


def test_tracking_is_off_by_default_and_not_in_the_openapi_document(world: World) -> None:
    send_tracked(world)

    async def test(client: httpx.AsyncClient) -> None:
        schema = (await client.get("/v1/openapi.json")).json()
        assert not any(p.startswith("/t/") for p in schema["paths"])
        body = schema["components"]["schemas"]["MessageIn"]["properties"]
        assert body["track_opens"]["default"] is False and body["track_clicks"]["default"] is False

    world.run(test)
