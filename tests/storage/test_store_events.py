"""Contract: the message log and the event log (written at acceptance and at each delivery
outcome, read per tenant)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from postoffice.storage import Store
from postoffice.storage.events import Event, LogQuery
from postoffice.storage.interfaces import DeliveryOutcome, QueueKey

if TYPE_CHECKING:
    from conftest import Mail


def accept(store: Store, mail: Mail, *, tenant: str = "default", local: tuple[str, ...] = (),
           relay: tuple[str, ...] = (), **fields: object) -> str:
    pending = mail.blob()
    acceptance = mail.acceptance(pending, local, relay, tenant=tenant, **fields)
    store.accept([(pending, acceptance)])
    return acceptance.message.id


def test_acceptance_and_outcomes_are_events(store: Store, mail: Mail) -> None:
    store.add_domain("example.org")
    store.add_user("bob@example.org", "x")
    message_id = accept(store, mail, local=("bob@example.org",),
                        relay=("a@d.example", "b@d.example", "c@d.example"),
                        subject="Hello", category="welcome")
    key = QueueKey("default", "transactional", "d.example")
    now = time.time() + 1
    a, b, c = store.claim(key, now=now, limit=10, lease=60, owner="n")
    store.complete([
        DeliveryOutcome(a.id, "delivered", "250 2.0.0 ok", now, ip="192.0.2.1",
                        mx="mx.d.example"),
        DeliveryOutcome(b.id, "deferred", "451 4.7.1 later", now, next_attempt_at=now + 60),
        DeliveryOutcome(c.id, "failed", "550 5.1.1 no such user", now),
    ])
    events = store.message_events("default", message_id)
    assert [(e.type, e.recipient) for e in events] == [
        ("accepted", ""), ("queued", "a@d.example"), ("queued", "b@d.example"),
        ("queued", "c@d.example"), ("delivered", "bob@example.org"),
        ("delivered", "a@d.example"), ("deferred", "b@d.example"), ("bounced", "c@d.example")]
    assert all(e.tenant == "default" and e.category == "welcome" for e in events)
    delivered = events[5]
    assert (delivered.detail, delivered.ip, delivered.mx) == ("250 2.0.0 ok", "192.0.2.1",
                                                              "mx.d.example")
    assert events[-1].detail == "550 5.1.1 no such user"
    assert [e.id for e in events] == sorted(e.id for e in events)


def test_the_log_is_per_tenant(store: Store, mail: Mail) -> None:
    store.add_tenant("acme")
    ours = accept(store, mail, tenant="acme", relay=("x@d.example",), subject="Invoice 12",
                  category="billing", mail_from="billing@acme.example",
                  metadata='{"order": "12"}')
    theirs = accept(store, mail, relay=("y@d.example",), subject="Invoice 13")
    assert store.message_events("default", ours) == []
    assert store.logged_message("default", ours) is None
    logged = store.logged_message("acme", ours)
    assert logged is not None
    assert (logged.subject, logged.category, logged.metadata, logged.mail_from) == (
        "Invoice 12", "billing", '{"order": "12"}', "billing@acme.example")
    assert logged.recipients == (("x@d.example", "queued"),)
    assert [m.id for m in store.search_messages("acme", LogQuery())] == [ours]
    assert [m.id for m in store.search_messages("default", LogQuery())] == [theirs]
    assert [m.id for m in store.search_messages("acme", LogQuery(subject="invoice"))] == [ours]
    assert store.search_messages("acme", LogQuery(subject="nothing")) == []
    assert [m.id for m in store.search_messages("acme", LogQuery(recipient="X@d.example"))] \
        == [ours]
    assert store.search_messages("acme", LogQuery(recipient="y@d.example")) == []
    assert [m.id for m in store.search_messages("acme", LogQuery(status="queued"))] == [ours]
    assert store.search_messages("acme", LogQuery(status="delivered")) == []
    assert [m.id for m in store.search_messages("acme", LogQuery(category="billing"))] == [ours]
    assert [m.id for m in store.search_messages(
        "acme", LogQuery(sender="BILLING@acme.example"))] == [ours]
    assert store.search_messages("acme", LogQuery(since=time.time() + 60)) == []


def test_search_pages_newest_first(store: Store, mail: Mail) -> None:
    ids = [accept(store, mail, relay=("z@d.example",)) for _ in range(5)]
    first = store.search_messages("default", LogQuery(limit=2))
    assert [m.id for m in first] == ids[::-1][:2]
    rest = store.search_messages("default", LogQuery(before_id=first[-1].id, limit=10))
    assert [m.id for m in rest] == ids[::-1][2:]


def test_recorded_events(store: Store, mail: Mail) -> None:
    message_id = accept(store, mail, relay=("z@d.example",))
    event = Event(time.time(), "default", message_id, "suppressed", recipient="z@d.example",
                  detail="hard bounce")
    store.record_events([event, dataclasses.replace(event, tenant="other")])
    assert [e.type for e in store.message_events("default", message_id)][-1] == "suppressed"
    assert [e.type for e in store.message_events("other", message_id)] == ["suppressed"]


def test_a_signed_attempt_is_an_event_before_its_outcome(store: Store, mail: Mail) -> None:
    message_id = accept(store, mail, relay=("a@d.example",))
    (item,) = store.claim(QueueKey("default", "transactional", "d.example"),
                          now=time.time() + 1, limit=10, lease=60, owner="n")
    signed = "d=example.org s=rsa1 a=rsa-sha256; d=example.org s=ed1 a=ed25519-sha256"
    store.complete([DeliveryOutcome(item.id, "delivered", "250 ok", time.time(), ip="192.0.2.1",
                                    mx="mx.d.example", provider="d.example", signed=signed)])
    events = store.message_events("default", message_id)
    assert [(e.type, e.detail) for e in events[-2:]] == [("signed", signed),
                                                         ("delivered", "250 ok")]
    assert (events[-2].recipient, events[-2].ip, events[-2].provider) == (
        "a@d.example", "192.0.2.1", "d.example")
