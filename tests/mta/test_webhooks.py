"""The webhook dispatcher with an injected clock and a fake HTTP sender, over a real store:
fan-out by tenant and event type, the signed body, the retry schedule, giving up after a day,
timeouts and the bound on requests in flight."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from postoffice.config import WebhookSettings
from postoffice.mta.webhook_http import SendError
from postoffice.mta.webhooks import WebhookDispatcher
from postoffice.policy import webhooks as policy
from postoffice.storage import Store, open_store
from postoffice.storage.events import Event

START = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.t = START

    def now(self) -> float:
        return self.t


@dataclass
class FakeSender:
    """Answers with `statuses` in turn (the last one repeats); an int is a status, an
    exception is raised, "hang" never answers."""

    statuses: list[Any] = field(default_factory=lambda: [200])
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.requests.append((url, body, dict(headers)))
        answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if answer == "hang":
            await asyncio.Event().wait()
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, int)
        return answer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "data")
    s.add_tenant("acme")
    yield s
    s.close()


def dispatcher(store: Store, clock: FakeClock, send: FakeSender,
               **settings: Any) -> WebhookDispatcher:
    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(store, *args)

    return WebhookDispatcher(settings=WebhookSettings(**settings), run=run, clock=clock,
                             send=send)


def go(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def log(store: Store, tenant: str, kind: str, **fields: Any) -> None:
    store.record_events([Event(at=START, tenant=tenant, message_id="m-1", type=kind,
                               **fields)])


def test_fan_out_by_type_and_tenant_signed_and_tenant_less(store: Store) -> None:
    clock, send = FakeClock(), FakeSender()
    bounced = store.add_webhook("default", "https://a.example/hook", ["bounced"], "s-a")
    every = store.add_webhook("default", "https://b.example/hook", ["*"], "s-b")
    store.add_webhook("acme", "https://c.example/hook", ["*"], "s-c")
    log(store, "default", "delivered", recipient="ann@d.example", detail="250 ok",
        category="orders", ip="192.0.2.7", mx="mx.d.example")
    log(store, "default", "bounced", recipient="bob@d.example", detail="550 no")

    async def test() -> None:
        d = dispatcher(store, clock, send)
        await d.step()
        await d.settle()

    go(test)
    sent = sorted((url, json.loads(body)["event"]["type"]) for url, body, _ in send.requests)
    assert sent == [("https://a.example/hook", "bounced"), ("https://b.example/hook", "bounced"),
                    ("https://b.example/hook", "delivered")]
    url, body, headers = next(r for r in send.requests if r[0] == "https://b.example/hook"
                              and b'"delivered"' in r[1])
    document = json.loads(body)
    assert document["webhook_id"] == every.id and isinstance(document["id"], int)
    assert document["event"] == {"type": "delivered", "at": START, "message_id": "m-1",
                                 "recipient": "ann@d.example", "detail": "250 ok",
                                 "category": "orders", "ip": "192.0.2.7", "mx": "mx.d.example"}
    assert "tenant" not in json.dumps(document)
    assert headers["X-Postoffice-Event"] == "delivered"
    assert headers["Content-Type"] == "application/json"
    signature = headers["X-Postoffice-Signature"]
    assert signature.startswith(f"t={int(START)},v1=")
    assert policy.verify("s-b", signature, body, now=START)
    assert not policy.verify("s-a", signature, body, now=START)
    assert not policy.verify("s-b", signature, body + b" ", now=START)
    assert not policy.verify("s-b", signature, body, now=START + 3600)  # replayed later
    deliveries = store.list_webhook_deliveries("default", bounced.id)
    assert [(d.status, d.attempts, d.last_status_code) for d in deliveries] == [
        ("delivered", 1, 200)]


def test_retry_schedule_and_giving_up_after_a_day(store: Store) -> None:
    clock, send = FakeClock(), FakeSender(statuses=[500])
    hook = store.add_webhook("default", "https://a.example/hook", ["*"], "s")
    log(store, "default", "bounced")
    times: list[float] = []

    async def test() -> None:
        d = dispatcher(store, clock, send)
        for _ in range(100):
            before = len(send.requests)
            await d.step()
            await d.settle()
            if len(send.requests) > before:
                times.append(clock.t)
            (delivery,) = store.list_webhook_deliveries("default", hook.id)
            if delivery.status != "pending":
                break
            assert delivery.next_attempt_at is not None
            clock.t = delivery.next_attempt_at

    go(test)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert set(gaps[8:]) == {3600}
    assert times[-1] <= START + 86400 < times[-1] + 3600
    (delivery,) = store.list_webhook_deliveries("default", hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed", len(times), 500)
    assert delivery.last_error == "answered 500" and delivery.next_attempt_at is None
    assert [a.at for a in delivery.history] == times


def test_a_later_success_delivers(store: Store) -> None:
    clock = FakeClock()
    send = FakeSender(statuses=[SendError("cannot connect: refused"), 503, 204])
    hook = store.add_webhook("default", "https://a.example/hook", ["*"], "s")
    log(store, "default", "delivered")

    async def test() -> None:
        d = dispatcher(store, clock, send)
        for _ in range(3):
            await d.step()
            await d.settle()
            clock.t += 3600

    go(test)
    (delivery,) = store.list_webhook_deliveries("default", hook.id)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [(a.status_code, a.error) for a in delivery.history] == [
        (None, "cannot connect: refused"), (503, "answered 503"), (204, "")]
    assert delivery.delivered_at == START + 7200
    bodies = {body for _, body, _ in send.requests}
    assert len(bodies) == 1  # the same delivery id and event every time


def test_finished_deliveries_are_listed_for_keep_deliveries_then_purged(store: Store) -> None:
    clock, send = FakeClock(), FakeSender()
    hook = store.add_webhook("default", "https://a.example/hook", ["*"], "s")
    log(store, "default", "delivered")
    listed: list[int] = []

    async def test() -> None:
        d = dispatcher(store, clock, send, keep_deliveries=7200)
        await d.step()
        await d.settle()
        for at in (3600, 7000, 7300):  # hourly purges: kept until 7,200 s after the event
            clock.t = START + at + 3600
            await d.step()
            listed.append(len(store.list_webhook_deliveries("default", hook.id)))

    go(test)
    assert listed == [1, 1, 0]


def test_a_hanging_endpoint_times_out_and_holds_only_its_slots(store: Store) -> None:
    clock = FakeClock()
    send = FakeSender(statuses=["hang"])
    hook = store.add_webhook("default", "https://slow.example/", ["*"], "s")
    for _ in range(30):
        log(store, "default", "queued")

    async def test() -> None:
        d = dispatcher(store, clock, send, concurrency=20, timeout=0.2)
        await d.step()
        assert d.in_flight == 20
        await d.step()  # no free slot: nothing more is claimed
        await asyncio.sleep(0.01)
        assert len(send.requests) == 20
        await d.settle()
        await d.step()
        assert d.in_flight == 10
        await d.settle()

    go(test)
    deliveries = store.list_webhook_deliveries("default", hook.id)
    assert len(deliveries) == 30
    assert {(d.status, d.attempts, d.last_error) for d in deliveries} == {
        ("pending", 1, "no answer within 0.2 s")}
    assert {d.next_attempt_at for d in deliveries} == {START + 30}


def test_test_event_and_stop(store: Store) -> None:
    clock, send = FakeClock(), FakeSender(statuses=[200])
    hook = store.add_webhook("default", "https://a.example/", ["bounced"], "s")
    store.add_test_delivery("default", hook.id, clock.t)

    async def test() -> None:
        d = dispatcher(store, clock, send)
        task = asyncio.create_task(d.run())
        for _ in range(100):
            if store.list_webhook_deliveries("default", hook.id)[0].status == "delivered":
                break
            await asyncio.sleep(0.01)
        await d.stop(grace=1)
        task.cancel()

    go(test)
    ((_, body, headers),) = send.requests
    assert headers["X-Postoffice-Event"] == "test"
    assert json.loads(body)["event"]["type"] == "test"
    assert store.list_webhook_deliveries("default", hook.id)[0].status == "delivered"
