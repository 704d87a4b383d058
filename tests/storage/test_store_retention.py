"""The Store contract for retention (`purge`), with an injected clock: messages and events are
made at chosen times and the purge is asked to run at a chosen `now`.

Files are written at the real time T0; purges that must also collect bodies run at T0 + 61
days, as if the clock had moved on (the blob grace period is measured against `now`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from postoffice.storage import NotFound, Store
from postoffice.storage.events import Event
from postoffice.storage.interfaces import DeliveryOutcome, QueueFilter
from postoffice.storage.templates import StoredAnswer

if TYPE_CHECKING:
    from conftest import Mail

DAY = 86400.0
T0 = time.time()
LATER = T0 + 61 * DAY
"""Past the default retention (60 days) of everything made at T0."""


def finish(store: Store, message_id: str, kind: str = "delivered", at: float = T0) -> None:
    items = [i for i in store.list_queue() if i.message_id == message_id]
    store.complete([DeliveryOutcome(i.id, kind, f"{kind} here", at) for i in items])


def gone(store: Store, digest: str) -> bool:
    try:
        store.blobs.read(digest)
    except NotFound:
        return True
    return False


def test_old_finished_messages_their_events_and_bodies_go(store: Store, mail: Mail) -> None:
    delivered = mail.accept(relay=["a@remote.example"], received_at=T0)
    failed = mail.accept(relay=["b@remote.example", "c@remote.example"], received_at=T0)
    recent = mail.accept(relay=["d@remote.example"], received_at=LATER - 59 * DAY)
    finish(store, delivered.message.id)
    finish(store, failed.message.id, "failed")
    finish(store, recent.message.id, at=LATER - 59 * DAY)
    store.record_events([Event(T0, "default", delivered.message.id, "opened"),
                         Event(LATER - DAY, "default", delivered.message.id, "clicked")])

    report = store.purge(LATER)

    assert store.get_message(delivered.message.id) is None
    assert store.get_message(failed.message.id) is None
    assert store.get_message(recent.message.id) is not None
    assert [i.message_id for i in store.list_queue()] == [recent.message.id]
    assert [e.type for e in store.message_events("default", delivered.message.id)] == ["clicked"]
    assert gone(store, delivered.message.blob) and gone(store, failed.message.blob)
    assert store.blobs.read(recent.message.blob)
    assert (report.messages, report.queue_items, report.blobs) == (2, 3, 2)
    # accepted + queued per recipient + an outcome per recipient + "opened"
    assert report.events == (1 + 1 + 1) + (1 + 2 + 2) + 1
    assert not report.dry_run and not report.nothing
    assert store.purge(LATER).nothing


def test_unfinished_messages_stay_whatever_their_age(store: Store, mail: Mail) -> None:
    queued = mail.accept(relay=["a@remote.example"], received_at=T0 - 400 * DAY)
    deferred = mail.accept(relay=["b@remote.example"], received_at=T0 - 400 * DAY)
    held = mail.accept(relay=["c@remote.example"], received_at=T0 - 400 * DAY)
    owing = mail.accept(relay=["d@remote.example"], received_at=T0 - 400 * DAY)
    partly = mail.accept(relay=["e@remote.example", "f@remote.example"],
                         received_at=T0 - 400 * DAY)
    items = {i.recipient: i for i in store.list_queue()}
    store.complete([
        DeliveryOutcome(items["b@remote.example"].id, "deferred", "451 later", T0,
                        next_attempt_at=T0 + 60),
        DeliveryOutcome(items["d@remote.example"].id, "failed", "550 no", T0,
                        notify_failure=True),
        DeliveryOutcome(items["e@remote.example"].id, "delivered", "250 ok", T0),
    ])
    store.hold(QueueFilter(ids=(items["c@remote.example"].id,)))

    report = store.purge(LATER)

    for acceptance in (queued, deferred, held, owing, partly):
        assert store.get_message(acceptance.message.id) is not None
        assert store.blobs.read(acceptance.message.blob)
    assert len(store.list_queue()) == 6
    assert (report.messages, report.queue_items, report.blobs) == (0, 0, 0)
    assert report.events > 0  # the log of old events goes all the same

    store.clear_failure_notice([items["d@remote.example"].id])  # the DSN was sent
    assert store.purge(LATER).messages == 1
    assert store.get_message(owing.message.id) is None


def test_a_body_shared_with_a_local_mailbox_stays(mailbox: Store, mail: Mail) -> None:
    both = mail.accept(local=["alice@example.org"], relay=["a@remote.example"], received_at=T0)
    finish(mailbox, both.message.id)
    report = mailbox.purge(LATER)
    assert report.messages == 1 and report.blobs == 0
    assert mailbox.get_message(both.message.id) is None
    [entry] = mailbox.list_mailbox("alice@example.org")
    assert mailbox.blobs.read(entry.blob) and entry.blob == both.message.blob


def test_retention_is_per_tenant(store: Store, mail: Mail) -> None:
    store.add_tenant("brief", retention_days=7)
    store.add_tenant("long", retention_days=365)
    made = {tenant: mail.accept(relay=["a@remote.example"], tenant=tenant, received_at=T0)
            for tenant in ("brief", "default", "long")}
    for acceptance in made.values():
        finish(store, acceptance.message.id)

    assert store.purge(T0 + 8 * DAY).messages == 1
    assert store.get_message(made["brief"].message.id) is None
    assert store.message_events("brief", made["brief"].message.id) == []
    assert store.message_events("default", made["default"].message.id) != []

    assert store.purge(T0 + 61 * DAY).messages == 1
    assert store.get_message(made["default"].message.id) is None
    assert store.get_message(made["long"].message.id) is not None

    store.set_tenant_limits("long", hourly=None, daily=None, retention_days=30)
    assert store.purge(T0 + 61 * DAY).messages == 1


def answer(store: Store) -> None:
    """An Idempotency-Key answered now."""
    assert store.claim_key("default", "key-1", "req") is None
    store.store_answer("default", "key-1", StoredAnswer("req", 200, "{}"))


def test_old_idempotent_answers_go_and_stats_stay(store: Store, mail: Mail) -> None:
    answer(store)
    finish(store, mail.accept(relay=["a@remote.example"], received_at=T0).message.id)
    before = store.stats("default", since=T0 - DAY, until=T0 + DAY, group_by="day")
    assert store.purge(time.time() + 3600).answers == 0
    assert store.claim_key("default", "key-1", "req") is not None  # answered: still there
    assert store.purge(LATER).answers == 1
    assert store.claim_key("default", "key-1", "req") is None  # gone: free to claim
    assert store.stats("default", since=T0 - DAY, until=T0 + DAY, group_by="day") == before


def test_batches_page_through_everything(store: Store, mail: Mail) -> None:
    kept = mail.accept(relay=["kept@remote.example"], received_at=T0 - 2)
    made = [mail.accept(relay=[f"r{n}@remote.example"], received_at=T0 + n) for n in range(7)]
    for acceptance in made:
        finish(store, acceptance.message.id)
    report = store.purge(LATER, batch=2)
    assert report.messages == 7 and report.queue_items == 7
    assert [i.message_id for i in store.list_queue()] == [kept.message.id]


def test_a_dry_run_counts_and_changes_nothing(store: Store, mail: Mail) -> None:
    old = mail.accept(relay=["a@remote.example"], received_at=T0)
    finish(store, old.message.id)
    answer(store)
    dry = store.purge(LATER, dry_run=True)
    assert dry.dry_run
    assert (dry.messages, dry.queue_items, dry.events, dry.answers) == (1, 1, 3, 1)
    assert store.get_message(old.message.id) is not None
    assert store.claim_key("default", "key-1", "req") is not None  # answered: still there
    real = store.purge(LATER)
    assert (real.messages, real.queue_items, real.events, real.answers) == (1, 1, 3, 1)


def test_a_stopped_purge_ends_after_a_batch_and_the_next_goes_on(store: Store,
                                                                 mail: Mail) -> None:
    for n in range(5):
        finish(store, mail.accept(relay=[f"r{n}@remote.example"], received_at=T0).message.id)
    assert store.purge(LATER, stop=lambda: True).nothing
    asked: list[bool] = []

    def after_one_batch() -> bool:
        asked.append(True)
        return len(asked) > 1

    first = store.purge(LATER, batch=2, stop=after_one_batch)
    assert first.events == 2 and first.messages == 0
    rest = store.purge(LATER, batch=2)
    assert rest.messages == 5 and first.events + rest.events == 15


def test_batch_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError):
        store.purge(LATER, batch=0)


def test_rows_whose_time_is_up_go(mailbox: Store, mail: Mail) -> None:
    """Expired suppressions, vacation answers past their days and soft-bounce runs quiet for
    SOFT_BOUNCE_MEMORY are purged; the rest stays."""
    from postoffice.storage.retention import SOFT_BOUNCE_MEMORY
    from postoffice.storage.suppressions import Bounce, SoftBounceRule, Suppression

    store = mailbox
    now = time.time()
    store.add_suppressions([
        Suppression("default", "short@far.example", "soft_bounce", created_at=now - 10,
                    expires_at=now - 1),
        Suppression("default", "later@far.example", "soft_bounce", created_at=now - 10,
                    expires_at=now + DAY),
        Suppression("default", "never@far.example", "manual", created_at=now - 10)])
    assert store.note_vacation_reply("alice@example.org", "h", "x@far.example", 1)
    message_id = mail.accept(relay=["full@far.example"]).message.id
    store.record_bounces([Bounce("default", message_id, "full@far.example", False,
                                 "mailbox_full", "452 full", now)], SoftBounceRule())
    soon = store.purge(now + 3600)
    assert soon.expired == 1  # the suppression that ended
    assert set(store.suppressed("default", ["short@far.example", "later@far.example",
                                            "never@far.example"])) == {
        "later@far.example", "never@far.example"}
    assert not store.note_vacation_reply("alice@example.org", "h", "x@far.example", 1)
    dry = store.purge(now + SOFT_BOUNCE_MEMORY + 2 * DAY, dry_run=True)
    assert dry.expired == 3  # the later suppression, the vacation answer, the soft-bounce run
    assert store.purge(now + SOFT_BOUNCE_MEMORY + 2 * DAY).expired == 3
    assert store.note_vacation_reply("alice@example.org", "h", "x@far.example", 1)
