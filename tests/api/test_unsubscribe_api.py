"""One-click unsubscribe through the ASGI app (api/routes/unsubscribe.py): POST /u/<token>
suppresses and records an `unsubscribed` event, GET only shows a page, and which messages are
marked for List-Unsubscribe fields at acceptance."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import UnsubscribeSettings
from postoffice.pipeline.unsubscribe import Unsubscribes
from postoffice.policy import unsubscribe as policy
from postoffice.policy.unsubscribe import UnsubscribeToken
from postoffice.storage import open_store
from postoffice.storage.suppressions import SuppressionQuery
from postoffice.testing.api import World, b64

INSTALL_KEY = b"k" * 32
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def service(data: Path) -> Unsubscribes:
    async def call(method: str, *args: Any) -> Any:
        def run() -> Any:
            with open_store(data) as store:
                return getattr(store, method)(*args)
        return await asyncio.to_thread(run)

    async def local(domain: str) -> bool:
        return True

    return Unsubscribes(INSTALL_KEY, UnsubscribeSettings(), hostname="mail.example.test",
                        call=call, clock=SYSTEM_CLOCK, is_local_domain=local)


def token(tenant: str, recipient: str, category: str, message_id: str) -> str:
    return policy.encode(UnsubscribeToken(tenant, recipient, category, message_id),
                         policy.derive_key(INSTALL_KEY))


async def send(client: httpx.AsyncClient, world: World, tenant: str = "default",
               **fields: Any) -> dict[str, Any]:
    owner = world.tenants[tenant]
    body = {"from": f"news@{owner.domain}", "to": ["ann@far.example"], "subject": "News",
            "text": "hello", "category": "news", "lane": "bulk", **fields}
    sent = await client.post("/v1/messages", json=body, headers=owner.auth("send"))
    assert sent.status_code == 202, sent.text
    result: dict[str, Any] = sent.json()
    return result


def test_one_click_post_suppresses_and_records_the_event(world: World) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        sent = await send(client, world)
        link = policy.PATH + token("default", "ann@far.example", "news", sent["id"])
        answer = await client.post(link, **ONE_CLICK)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain")
        again = await client.post(link, **ONE_CLICK)  # idempotent
        assert again.status_code == 200
        with world.store() as store:
            listed = store.list_suppressions("default", SuppressionQuery())
            events = store.message_events("default", sent["id"])
        assert [(s.address, s.reason, s.category, s.source_message) for s in listed] == [
            ("ann@far.example", "unsubscribe", "news", sent["id"])]
        unsubscribed = [e for e in events if e.type == "unsubscribed"]
        assert [(e.recipient, e.category, e.detail) for e in unsubscribed] == [
            ("ann@far.example", "news", "one-click")]
        # The next mail of the category leaves the address out; another category does not.
        later = await send(client, world)
        assert [r["status"] for r in later["recipients"]] == ["suppressed"]
        other = await send(client, world, category="orders")
        assert [r["status"] for r in other["recipients"]] == ["queued"]

    with _client(world) as run:
        run(test)


def test_get_shows_a_page_and_never_unsubscribes(world: World) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        sent = await send(client, world)
        recipient = "<b>x</b>@far.example"
        link = policy.PATH + token("default", recipient, "news", sent["id"])
        page = await client.get(link)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "&lt;b&gt;x&lt;/b&gt;@far.example" in page.text and "<b>x</b>" not in page.text
        assert '<form method="post">' in page.text and 'name="List-Unsubscribe"' in page.text
        assert "http" not in page.text  # no external assets
        assert "no-store" in page.headers["cache-control"]
        with world.store() as store:
            assert store.list_suppressions("default", SuppressionQuery()) == []
            assert not any(e.type == "unsubscribed"
                           for e in store.message_events("default", sent["id"]))
        # A POST without the RFC 8058 body is refused; a bad token is a 404 either way.
        assert (await client.post(link, content=b"x=y")).status_code == 400
        bad = link[:-1] + ("a" if link[-1] != "a" else "b")
        assert (await client.get(bad)).status_code == 404
        assert (await client.post(bad, **ONE_CLICK)).status_code == 404
        assert (await client.post(policy.PATH + "nothing", **ONE_CLICK)).status_code == 404

    with _client(world) as run:
        run(test)


def test_a_token_acts_only_in_its_own_tenant(world: World) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        acme = await send(client, world, tenant="acme")
        mine = await send(client, world)
        # acme's token suppresses in acme only.
        link = policy.PATH + token("acme", "ann@far.example", "news", acme["id"])
        assert (await client.post(link, **ONE_CLICK)).status_code == 200
        # A token claiming tenant default for acme's message writes nothing anywhere.
        crossed = policy.PATH + token("default", "bob@far.example", "news", acme["id"])
        assert (await client.post(crossed, **ONE_CLICK)).status_code == 200
        with world.store() as store:
            in_acme = store.list_suppressions("acme", SuppressionQuery())
            in_default = store.list_suppressions("default", SuppressionQuery())
            assert not any(e.type == "unsubscribed"
                           for e in store.message_events("default", acme["id"]))
        assert [s.address for s in in_acme] == ["ann@far.example"]
        assert in_default == []
        again = await send(client, world)
        assert [r["status"] for r in again["recipients"]] == ["queued"]
        assert mine["id"] != acme["id"]

    with _client(world) as run:
        run(test)


def test_which_messages_are_marked_for_fields(world: World) -> None:
    async def test(client: httpx.AsyncClient) -> None:
        bulk = await send(client, world)
        transactional = await send(client, world, lane="transactional")
        asked = await send(client, world, lane="transactional", unsubscribe=True)
        raw = await client.post("/v1/messages", json={"raw": b64(
            b"From: news@example.test\r\nTo: ann@far.example\r\nSubject: x\r\n"
            b"List-Unsubscribe: <mailto:leave@example.test>\r\n\r\nhi\r\n")},
            headers=world.tenants["default"].auth("send"))
        assert raw.status_code == 202, raw.text
        own = raw.json()
        with world.store() as store:
            marks = {name: store.get_message(m["id"]).unsubscribe  # type: ignore[union-attr]
                     for name, m in (("bulk", bulk), ("transactional", transactional),
                                     ("asked", asked), ("own", own))}
        assert marks == {"bulk": True, "transactional": False, "asked": True, "own": False}

    with _client(world) as run:
        run(test)


class _client:
    """`with _client(world) as run: run(test)`: the world's ASGI app with the unsubscribe
    service of INSTALL_KEY."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __enter__(self) -> Any:
        def run(test: Any) -> None:
            async def main() -> None:
                async with self.world.client(unsubscribe=service(self.world.data)) as client:
                    await test(client)
            asyncio.run(main())
        return run

    def __exit__(self, *exc: object) -> None:
        return None
