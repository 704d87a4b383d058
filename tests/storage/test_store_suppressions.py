"""Contract: suppression lists per tenant, and bounces and complaints that write their events
and suppress what they condemn."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from postoffice.storage import Store
from postoffice.storage.interfaces import DeliveryOutcome, NotFound, QueueKey
from postoffice.storage.suppressions import (
    Bounce,
    ComplaintReport,
    SoftBounceRule,
    Suppression,
    SuppressionQuery,
)

if TYPE_CHECKING:
    from conftest import Mail

RULE = SoftBounceRule(in_a_row=3, days=3.0)


def test_add_list_and_remove(store: Store) -> None:
    store.add_tenant("acme")
    now = time.time()
    written = store.add_suppressions([
        Suppression("acme", "Ann@Example.NET", "manual"),
        Suppression("acme", "bob@example.net", "unsubscribe", "news"),
        Suppression("acme", "old@example.net", "soft_bounce", expires_at=now - 1),
        Suppression("default", "ann@example.net", "complaint"),
    ])
    assert written == 4
    listed = store.list_suppressions("acme", SuppressionQuery())
    assert [(s.address, s.reason, s.category) for s in listed] == [
        ("bob@example.net", "unsubscribe", "news"), ("ann@example.net", "manual", "")]
    assert listed[1].created_at >= now - 1 and listed[1].expires_at is None
    assert [s.address for s in store.list_suppressions(
        "acme", SuppressionQuery(reason="manual"))] == ["ann@example.net"]
    assert [s.address for s in store.list_suppressions(
        "acme", SuppressionQuery(address="ANN@example.net"))] == ["ann@example.net"]
    page = store.list_suppressions("acme", SuppressionQuery(limit=1))
    rest = store.list_suppressions("acme", SuppressionQuery(before_id=page[0].id))
    assert [s.address for s in page + rest] == ["bob@example.net", "ann@example.net"]

    assert store.remove_suppression("acme", "ANN@example.net") == 1
    with pytest.raises(NotFound):
        store.remove_suppression("acme", "ann@example.net")
    with pytest.raises(NotFound):
        store.remove_suppression("acme", "bob@example.net", "other")
    assert store.remove_suppression("acme", "bob@example.net", "news") == 1
    assert [s.tenant for s in store.list_suppressions("default", SuppressionQuery())] == [
        "default"]


def test_bad_entries_are_refused(store: Store) -> None:
    for bad in (Suppression("default", "no-at-sign", "manual"),
                Suppression("default", "a b@example.net", "manual"),
                Suppression("default", "a@example.net", "because")):
        with pytest.raises(ValueError):
            store.add_suppressions([bad])
    assert store.list_suppressions("default", SuppressionQuery()) == []


def test_suppressed_by_scope(store: Store) -> None:
    store.add_suppressions([
        Suppression("default", "all@example.net", "complaint"),
        Suppression("default", "news@example.net", "unsubscribe", "news"),
        Suppression("default", "gone@example.net", "soft_bounce",
                    expires_at=time.time() - 10),
    ])
    addresses = ["All@example.net", "news@example.net", "gone@example.net", "x@example.net"]
    assert set(store.suppressed("default", addresses)) == {"all@example.net"}
    assert set(store.suppressed("default", addresses, "news")) == {
        "all@example.net", "news@example.net"}
    assert store.suppressed("acme", addresses) == {}


def test_for_good_is_not_replaced_by_one_that_expires(store: Store) -> None:
    store.add_suppressions([Suppression("default", "a@example.net", "hard_bounce")])
    store.add_suppressions([Suppression("default", "a@example.net", "soft_bounce",
                                        expires_at=time.time() + 60)])
    (found,) = store.list_suppressions("default", SuppressionQuery())
    assert (found.reason, found.expires_at) == ("hard_bounce", None)
    store.add_suppressions([Suppression("default", "a@example.net", "manual")])
    assert store.list_suppressions("default", SuppressionQuery())[0].reason == "manual"


def test_a_hard_bounce_is_an_event_and_a_suppression(store: Store, mail: Mail) -> None:
    store.add_tenant("acme")
    sent = mail.accept(relay=("ann@far.example", "bob@far.example"), tenant="acme",
                       category="orders", header_id="<abc@acme.example>")
    message_id = sent.message.id
    target = store.message_target(message_id)
    assert target is not None and target.tenant == "acme" and target.category == "orders"
    assert target.recipients == ("ann@far.example", "bob@far.example")
    found = store.message_by_header_id("<abc@acme.example>")
    assert found is not None and found.message_id == message_id
    assert store.message_by_header_id("<other@acme.example>") is None

    made = store.record_bounces([Bounce("acme", message_id, "ann@far.example", True,
                                        "user_unknown", "550 5.1.1 no such user",
                                        time.time(), "orders")], RULE)
    assert [(s.address, s.reason, s.expires_at) for s in made] == [
        ("ann@far.example", "hard_bounce", None)]
    events = store.message_events("acme", message_id)
    bounced = [e for e in events if e.type == "bounced"]
    assert [(e.recipient, e.reason, e.bounce, e.detail) for e in bounced] == [
        ("ann@far.example", "user_unknown", "hard", "550 5.1.1 no such user")]
    assert made[0].source_event == bounced[0].id and made[0].source_message == message_id
    assert set(store.suppressed("acme", ["ann@far.example"])) == {"ann@far.example"}
    assert store.suppressed("default", ["ann@far.example"]) == {}


def test_a_failed_delivery_suppresses_in_the_outcomes_transaction(store: Store,
                                                                     mail: Mail) -> None:
    """complete() writes the bounced event and the suppression together: no crash between
    the two can leave a hard bounce unsuppressed."""
    sent = mail.accept(relay=("gone@far.example", "ok@far.example"))
    a, b = store.claim(QueueKey("default", "transactional", "far.example"),
                       now=time.time() + 1, limit=10, lease=60, owner="n")
    now = time.time()
    failed = DeliveryOutcome(a.id, "failed", "550 5.1.1 no such user", now,
                             reason="user_unknown", hard=True)
    made = store.complete(
        [failed, DeliveryOutcome(b.id, "delivered", "250 ok", now)],
        [Bounce("default", sent.message.id, "gone@far.example", True, "user_unknown",
                failed.detail, now, logged=True)], RULE)
    assert [(s.address, s.reason) for s in made] == [("gone@far.example", "hard_bounce")]
    bounced = [e for e in store.message_events("default", sent.message.id)
               if e.type == "bounced"]
    assert len(bounced) == 1 and made[0].source_event == bounced[0].id  # the outcome's event
    assert set(store.suppressed("default", ["gone@far.example", "ok@far.example"])) == {
        "gone@far.example"}
    assert store.complete([]) == []


def test_soft_bounces_suppress_after_some_in_a_row(store: Store, mail: Mail) -> None:
    def soft(message_id: str) -> list[Suppression]:
        return store.record_bounces([Bounce("default", message_id, "full@far.example", False,
                                            "mailbox_full", "552 5.2.2 full", time.time())],
                                    RULE)

    first = mail.accept(relay=("full@far.example",)).message.id
    assert soft(first) == [] and soft(first) == []
    # A delivery between ends the run.
    key = QueueKey("default", "transactional", "far.example")
    second = mail.accept(relay=("full@far.example",)).message.id
    items = store.claim(key, now=time.time() + 1, limit=10, lease=60, owner="n")
    store.complete([DeliveryOutcome(i.id, "delivered", "250 ok", time.time()) for i in items])
    assert soft(second) == [] and soft(second) == []
    (made,) = soft(second)
    assert made.reason == "soft_bounce" and made.expires_at is not None
    assert 3 * 86400 - 60 < made.expires_at - time.time() <= 3 * 86400
    events = [e for e in store.message_events("default", second) if e.type == "bounced"]
    assert {(e.reason, e.bounce) for e in events} == {("mailbox_full", "soft")}


def test_delays_are_deferred_events_only(store: Store, mail: Mail) -> None:
    message_id = mail.accept(relay=("slow@far.example",)).message.id
    for _ in range(4):
        assert store.record_bounces([Bounce("default", message_id, "slow@far.example", False,
                                            "network", "4.4.1 timeout", time.time(),
                                            delayed=True)], RULE) == []
    kinds = [e.type for e in store.message_events("default", message_id)]
    assert kinds.count("deferred") == 4 and "bounced" not in kinds


def test_a_failed_outcome_carries_its_class_and_suppresses(store: Store, mail: Mail) -> None:
    message_id = mail.accept(relay=("gone@far.example",)).message.id
    (item,) = store.claim(QueueKey("default", "transactional", "far.example"),
                          now=time.time() + 1, limit=10, lease=60, owner="n")
    store.complete([DeliveryOutcome(item.id, "failed", "550 5.1.1 gone", time.time(),
                                    reason="user_unknown", hard=True)])
    (made,) = store.record_bounces([Bounce("default", message_id, "gone@far.example", True,
                                           "user_unknown", "550 5.1.1 gone", time.time(),
                                           logged=True)], RULE)
    bounced = [e for e in store.message_events("default", message_id) if e.type == "bounced"]
    assert len(bounced) == 1 and (bounced[0].reason, bounced[0].bounce) == ("user_unknown",
                                                                           "hard")
    assert made.source_event == bounced[0].id
    assert store.message_target("", item.id) == store.message_target(message_id, item.id)
    target = store.message_target("", item.id)
    assert target is not None and target.item_recipient == "gone@far.example"


def test_a_complaint_is_an_event_and_a_suppression(store: Store, mail: Mail) -> None:
    message_id = mail.accept(relay=("ann@far.example",), category="news").message.id
    (made,) = store.record_complaints([ComplaintReport(
        "default", message_id, "Ann@far.example", "abuse report", time.time(), "news")])
    assert (made.address, made.reason, made.category, made.expires_at) == (
        "ann@far.example", "complaint", "", None)
    (event,) = [e for e in store.message_events("default", message_id)
                if e.type == "complained"]
    assert (event.recipient, event.detail, event.reason) == ("Ann@far.example",
                                                             "abuse report", "complaint")
    assert set(store.suppressed("default", ["ann@far.example"], "other")) == {
        "ann@far.example"}
