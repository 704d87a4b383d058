"""Contract: webhooks per tenant, the fan-out of the event log into deliveries, claims with a
lease, outcomes with every attempt kept."""

from __future__ import annotations

import time

import pytest

from postoffice.storage import NotFound, Store
from postoffice.storage.events import Event
from postoffice.storage.webhooks import WebhookAttempt, WebhookResult


def event(tenant: str, kind: str, message_id: str = "m1", **fields: object) -> Event:
    return Event(at=time.time(), tenant=tenant, message_id=message_id, type=kind,
                 **fields)  # type: ignore[arg-type]


def test_webhooks_belong_to_their_tenant(store: Store) -> None:
    store.add_tenant("acme")
    ours = store.add_webhook("default", "https://hooks.example/a", ["delivered"], "s1")
    theirs = store.add_webhook("acme", "https://acme.example/h", ["*"], "s2")
    assert (ours.tenant, ours.url, ours.events, ours.active) == (
        "default", "https://hooks.example/a", ("delivered",), True)
    assert store.get_webhook("default", ours.id) == ours
    assert store.get_webhook("default", theirs.id) is None
    assert [h.id for h in store.list_webhooks("acme")] == [theirs.id]
    with pytest.raises(NotFound):
        store.add_webhook("missing", "https://x.example/", ["*"], "s")
    for call in (lambda: store.update_webhook("default", theirs.id, active=False),
                 lambda: store.set_webhook_secret("default", theirs.id, "x"),
                 lambda: store.delete_webhook("default", theirs.id),
                 lambda: store.add_test_delivery("default", theirs.id, time.time()),
                 lambda: store.list_webhook_deliveries("default", theirs.id)):
        with pytest.raises(NotFound):
            call()
    changed = store.update_webhook("default", ours.id, url="https://hooks.example/b",
                                   events=["bounced", "deferred"])
    assert (changed.url, changed.events, changed.active) == (
        "https://hooks.example/b", ("bounced", "deferred"), True)
    assert store.get_webhook("default", ours.id) == changed
    store.delete_webhook("default", ours.id)
    assert store.list_webhooks("default") == []
    assert store.get_webhook("acme", theirs.id) == theirs


def test_fan_out_by_tenant_and_type(store: Store) -> None:
    store.add_tenant("acme")
    before = event("default", "delivered", "m0")
    store.record_events([before])  # before any webhook: never delivered
    store.fan_out_events(time.time())
    delivered = store.add_webhook("default", "https://h.example/1", ["delivered"], "s")
    every = store.add_webhook("default", "https://h.example/2", ["*"], "s")
    other = store.add_webhook("acme", "https://h.example/3", ["*"], "s")
    paused = store.add_webhook("default", "https://h.example/4", ["*"], "s")
    store.update_webhook("default", paused.id, active=False)
    store.record_events([event("default", "delivered"), event("default", "bounced"),
                         event("acme", "queued", "m2")])
    now = time.time()
    assert store.fan_out_events(now) == 3
    assert store.fan_out_events(now) == 0
    kinds = {hook.id: [d.event_type for d in store.list_webhook_deliveries(hook.tenant, hook.id)]
             for hook in (delivered, every, other, paused)}
    assert kinds == {delivered.id: ["delivered"], every.id: ["bounced", "delivered"],
                     other.id: ["queued"], paused.id: []}


def test_fan_out_in_batches(store: Store) -> None:
    hook = store.add_webhook("default", "https://h.example/", ["*"], "s")
    store.record_events([event("default", "queued", f"m{i}") for i in range(5)])
    assert store.fan_out_events(time.time(), limit=2) == 2
    assert store.fan_out_events(time.time(), limit=2) == 2
    assert store.fan_out_events(time.time(), limit=2) == 1
    assert len(store.list_webhook_deliveries("default", hook.id)) == 5


def test_claim_send_and_finish(store: Store) -> None:
    hook = store.add_webhook("default", "https://h.example/", ["delivered"], "secret-1")
    store.record_events([event("default", "delivered", recipient="ann@d.example",
                               detail="250 ok", ip="192.0.2.1", mx="mx.d.example")])
    now = time.time()
    store.fan_out_events(now)
    (job,) = store.claim_webhook_deliveries(now, 10, lease=60)
    assert (job.webhook_id, job.url, job.secret, job.attempts) == (
        hook.id, "https://h.example/", "secret-1", 0)
    assert (job.event.type, job.event.recipient, job.event.mx, job.event.message_id) == (
        "delivered", "ann@d.example", "mx.d.example", "m1")
    assert store.claim_webhook_deliveries(now + 59, 10, lease=60) == []  # leased
    failed = WebhookAttempt(now, 500, "HTTP 500", 0.1)
    store.finish_webhook_deliveries([WebhookResult(job.delivery_id, failed, "pending",
                                                   now + 30)])
    assert store.claim_webhook_deliveries(now + 29, 10, lease=60) == []
    (again,) = store.claim_webhook_deliveries(now + 30, 10, lease=60)
    assert again.attempts == 1
    ok = WebhookAttempt(now + 30, 204, "", 0.05)
    store.finish_webhook_deliveries([WebhookResult(again.delivery_id, ok, "delivered")])
    (delivery,) = store.list_webhook_deliveries("default", hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code,
            delivery.delivered_at, delivery.next_attempt_at) == ("delivered", 2, 204, now + 30,
                                                                 None)
    assert delivery.history == (failed, ok)
    assert store.claim_webhook_deliveries(now + 10_000, 10, lease=60) == []
    # a late outcome of a finished delivery changes nothing
    store.finish_webhook_deliveries([WebhookResult(again.delivery_id, failed, "failed")])
    assert store.list_webhook_deliveries("default", hook.id) == [delivery]


def test_test_deliveries_listing_and_purge(store: Store) -> None:
    hook = store.add_webhook("default", "https://h.example/", ["bounced"], "s")
    now = time.time()
    made = [store.add_test_delivery("default", hook.id, now) for _ in range(3)]
    assert all(d.event_type == "test" and d.status == "pending" for d in made)
    jobs = store.claim_webhook_deliveries(now, 2, lease=60)
    assert [j.event.type for j in jobs] == ["test", "test"]
    assert jobs[0].event.tenant == "default" and jobs[0].event.message_id == ""
    store.finish_webhook_deliveries([
        WebhookResult(jobs[0].delivery_id, WebhookAttempt(now, 200, "", 0.0), "delivered"),
        WebhookResult(jobs[1].delivery_id, WebhookAttempt(now, None, "timeout", 10.0),
                      "failed")])
    newest_first = store.list_webhook_deliveries("default", hook.id)
    assert [d.id for d in newest_first] == [d.id for d in reversed(made)]
    assert [d.id for d in store.list_webhook_deliveries("default", hook.id,
                                                        status="failed")] == [jobs[1].delivery_id]
    page = store.list_webhook_deliveries("default", hook.id, before_id=made[2].id, limit=1)
    assert [d.id for d in page] == [made[1].id]
    with pytest.raises(ValueError):
        store.list_webhook_deliveries("default", hook.id, status="lost")
    assert store.purge_webhook_deliveries(now + 1) == 2
    assert [d.status for d in store.list_webhook_deliveries("default", hook.id)] == ["pending"]


def test_deactivating_fails_pending_and_deleting_removes_deliveries(store: Store) -> None:
    hook = store.add_webhook("default", "https://h.example/", ["*"], "s")
    now = time.time()
    store.add_test_delivery("default", hook.id, now)
    (job,) = store.claim_webhook_deliveries(now, 5, lease=60)
    store.update_webhook("default", hook.id, active=False)
    (delivery,) = store.list_webhook_deliveries("default", hook.id)
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    store.update_webhook("default", hook.id, active=True)
    store.add_test_delivery("default", hook.id, now)
    (pending,) = store.claim_webhook_deliveries(now, 5, lease=60)
    store.delete_webhook("default", hook.id)
    # the outcome of a delivery sent while its webhook was deleted is dropped
    store.finish_webhook_deliveries([WebhookResult(pending.delivery_id,
                                                   WebhookAttempt(now, 200, "", 0.0),
                                                   "delivered")])
    assert store.claim_webhook_deliveries(now + 1000, 5, lease=60) == []


def test_secret_rotation_reaches_the_claims(store: Store) -> None:
    hook = store.add_webhook("default", "https://h.example/", ["*"], "old")
    store.set_webhook_secret("default", hook.id, "new")
    store.add_test_delivery("default", hook.id, time.time())
    (job,) = store.claim_webhook_deliveries(time.time(), 1, lease=60)
    assert job.secret == "new"


def test_without_active_webhooks_the_cursor_skips_to_the_end(store: Store) -> None:
    store.record_events([event("default", "queued", f"m{i}") for i in range(3)])
    assert store.fan_out_events(time.time()) == 0
    hook = store.add_webhook("default", "https://h.example/", ["*"], "s")
    assert store.fan_out_events(time.time()) == 0  # those were before it
    store.record_events([event("default", "queued", "m9")])
    assert store.fan_out_events(time.time()) == 1
    assert [d.event_type for d in store.list_webhook_deliveries("default", hook.id)] == ["queued"]
