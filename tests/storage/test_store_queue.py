"""Contract: the outbound queue as the delivery engine and operators use it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from postoffice.message.envelope import Recipient
from postoffice.storage import Store
from postoffice.storage.interfaces import DeliveryOutcome, QueueFilter, QueueKey

if TYPE_CHECKING:
    from conftest import Backend, Mail


def queued(mail: Mail, *recipients: str, lane: str = "transactional") -> None:
    mail.accept(relay=recipients, lane=lane)


def test_items_carry_destination_and_tenant(store: Store, mail: Mail) -> None:
    queued(mail, "a@Dest.EXAMPLE", "b@other.example")
    items = store.list_queue()
    assert [(i.domain, i.tenant, i.status) for i in items] == [
        ("dest.example", "default", "queued"), ("other.example", "default", "queued")]
    assert store.get_queue_item(items[0].id) == items[0]
    assert store.get_queue_item(999999) is None


def test_backlog_counts_due_unclaimed_items_per_key(store: Store, mail: Mail) -> None:
    queued(mail, "a@d1.example", "b@d1.example")
    queued(mail, "c@d1.example", lane="bulk")
    queued(mail, "d@d2.example")
    now = time.time() + 1
    backlog = {b.key: b.due for b in store.queue_backlog(now)}
    assert backlog == {
        QueueKey("default", "transactional", "d1.example"): 2,
        QueueKey("default", "bulk", "d1.example"): 1,
        QueueKey("default", "transactional", "d2.example"): 1,
    }
    assert store.queue_backlog(now - 3600) == []  # nothing due an hour ago


def test_backlog_finds_every_queue_among_many(store: Store, mail: Mail) -> None:
    """Queues of several tenants, lanes and domains, queued and deferred, some claimed, some
    not due yet: the backlog names exactly the queues with due, unclaimed items."""
    tenants, lanes = ("acme", "default", "zeta"), ("bulk", "transactional")
    domains = ("a.example", "b.example", "c.example")
    for t_i, tenant in enumerate(tenants):
        for l_i, lane in enumerate(lanes):
            for d_i, domain in enumerate(domains):
                if (t_i + l_i + d_i) % 3 != 0:
                    mail.accept(relay=[f"r{n}@{domain}" for n in range(1 + d_i)], lane=lane, tenant=tenant)
    now = time.time() + 1
    # Defer one queue's items (still due later), claim another's, push a third's into the future.
    keys = sorted({(i.tenant, i.lane, i.domain) for i in store.list_queue()})
    deferred, claimed, later = (QueueKey(*k) for k in keys[:3])
    items = store.claim(deferred, now=now, limit=100, lease=60, owner="n")
    store.complete([DeliveryOutcome(i.id, "deferred", "451 4.3.0 later", now, next_attempt_at=now + 10)
                    for i in items])
    store.claim(claimed, now=now, limit=100, lease=60, owner="n")
    items = store.claim(later, now=now, limit=100, lease=60, owner="n")
    store.postpone([i.id for i in items], now + 3600)

    backlog = {b.key: b.due for b in store.queue_backlog(now)}
    expected = {QueueKey(i.tenant, i.lane, i.domain) for i in store.list_queue()} - {deferred, claimed, later}
    assert set(backlog) == expected
    for key, due in backlog.items():
        assert due == len(store.list_queue(where=QueueFilter(tenant=key.tenant, lane=key.lane, domain=key.domain)))
    later_backlog = {b.key for b in store.queue_backlog(now + 11)}
    assert deferred in later_backlog and claimed not in later_backlog and later not in later_backlog


def test_claim_leases_items_until_the_lease_expires(backend: Backend, mail: Mail) -> None:
    store = mail.store
    queued(mail, "a@d.example", "b@d.example", "c@d.example")
    key = QueueKey("default", "transactional", "d.example")
    now = time.time() + 1
    first = store.claim(key, now=now, limit=2, lease=60, owner="node-1")
    assert len(first) == 2
    other = backend.open()  # another node sharing the database
    second = other.claim(key, now=now, limit=10, lease=60, owner="node-2")
    assert [i.recipient for i in second] == ["c@d.example"]
    assert other.claim(key, now=now, limit=10, lease=60, owner="node-2") == []
    # node-1 dies: after its lease runs out, the items are claimable again (at least once).
    again = other.claim(key, now=now + 61, limit=10, lease=60, owner="node-2")
    assert {i.id for i in again} == {i.id for i in first} | {i.id for i in second}


def test_complete_records_each_outcome(store: Store, mail: Mail) -> None:
    queued(mail, "a@d.example", "b@d.example", "c@d.example")
    key = QueueKey("default", "transactional", "d.example")
    now = time.time() + 1
    a, b, c = store.claim(key, now=now, limit=10, lease=60, owner="n")
    store.complete([
        DeliveryOutcome(a.id, "delivered", "250 2.0.0 ok", now),
        DeliveryOutcome(b.id, "deferred", "451 4.7.1 greylisted", now, next_attempt_at=now + 300),
        DeliveryOutcome(c.id, "failed", "550 5.1.1 no such user", now, notify_failure=True),
    ])
    items = {i.id: i for i in store.list_queue()}
    assert (items[a.id].status, items[a.id].attempts, items[a.id].last_error) == ("delivered", 1, None)
    assert (items[b.id].status, items[b.id].next_attempt_at) == ("deferred", now + 300)
    assert items[b.id].last_error == "451 4.7.1 greylisted" and items[b.id].last_attempt_at == now
    assert items[c.id].status == "failed" and items[c.id].dsn_pending
    assert [i.id for i in store.owed_failure_notices()] == [c.id]
    store.clear_failure_notice([c.id])
    assert store.owed_failure_notices() == []
    # the deferred one is due again only after its next attempt time
    assert store.claim(key, now=now + 1, limit=10, lease=60, owner="n") == []
    assert [i.id for i in store.claim(key, now=now + 301, limit=10, lease=60, owner="n")] == [b.id]
    with pytest.raises(ValueError):
        store.complete([DeliveryOutcome(a.id, "lost", "", now)])


def test_release_leases_on_clean_shutdown(store: Store, mail: Mail) -> None:
    queued(mail, "a@d.example")
    key = QueueKey("default", "transactional", "d.example")
    now = time.time() + 1
    assert store.claim(key, now=now, limit=10, lease=600, owner="n1")
    assert store.release_leases("n2") == 0
    assert store.release_leases("n1") == 1
    assert len(store.claim(key, now=now, limit=10, lease=600, owner="n2")) == 1


def test_operator_actions_with_filters(store: Store, mail: Mail) -> None:
    queued(mail, "a@d.example", "b@e.example")
    queued(mail, "c@d.example", lane="bulk")
    now = time.time() + 1
    assert store.hold(QueueFilter(domain="D.example")) == 2
    assert {i.recipient for i in store.list_queue(status="held")} == {"a@d.example", "c@d.example"}
    assert store.queue_backlog(now)[0].key.domain == "e.example"
    assert store.release(QueueFilter(lane="bulk"), now) == 1
    assert store.bounce(QueueFilter(status="held"), now, "5.0.0 bounced by the operator") == 1
    failed = store.list_queue(status="failed")
    assert [i.recipient for i in failed] == ["a@d.example"] and failed[0].dsn_pending
    e = store.list_queue(where=QueueFilter(domain="e.example"))[0]
    store.complete([DeliveryOutcome(e.id, "deferred", "451 later", now, next_attempt_at=now + 9999)])
    assert store.retry_now(QueueFilter(ids=(e.id,)), now) == 1
    assert store.get_queue_item(e.id).next_attempt_at == now  # type: ignore[union-attr]
    assert store.delete(QueueFilter(created_before=0)) == 0
    assert store.delete(QueueFilter(domain="e.example")) == 1
    assert len(store.list_queue()) == 2


def test_listing_pages_by_id(store: Store, mail: Mail) -> None:
    for n in range(7):
        queued(mail, f"r{n}@d.example")
    seen: list[int] = []
    after = 0
    while page := store.list_queue(limit=3, after_id=after):
        seen += [i.id for i in page]
        after = page[-1].id
    assert len(seen) == 7 and seen == sorted(seen)


def test_dsn_parameters_are_kept(store: Store, mail: Mail) -> None:
    mail.accept(relay=[Recipient("a@d.example", ("SUCCESS", "FAILURE"), "rfc822;A@d.example")],
                ret="HDRS", envid="env+2Did")
    item = store.list_queue()[0]
    assert item.notify == ("SUCCESS", "FAILURE") and item.orcpt == "rfc822;A@d.example"
    message = store.get_message(item.message_id)
    assert message is not None and (message.ret, message.envid) == ("HDRS", "env+2Did")


def test_postpone_gives_items_back_without_counting_an_attempt(store: Store, mail: Mail) -> None:
    queued(mail, "a@d.example")
    key = QueueKey("default", "transactional", "d.example")
    now = time.time() + 1
    (item,) = store.claim(key, now=now, limit=10, lease=600, owner="n")
    store.postpone([item.id], now + 120)
    after = store.get_queue_item(item.id)
    assert after is not None and after.attempts == 0 and after.next_attempt_at == now + 120
    assert store.claim(key, now=now + 60, limit=10, lease=600, owner="n") == []
    assert len(store.claim(key, now=now + 121, limit=10, lease=600, owner="n")) == 1
    assert store.lease_owners() == ["n"]
