"""Contract: event counts by hour, grouped by day, hour, category, provider, sending domain or
IP; bounces split hard/soft; per tenant."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from postoffice.storage import Store
from postoffice.storage.events import Event

if TYPE_CHECKING:
    from conftest import Mail

DAY = 1_800_000_000.0 - 1_800_000_000.0 % 86400  # a midnight (UTC)


def test_counts_by_group(store: Store, mail: Mail) -> None:
    store.add_tenant("acme")
    pending = mail.blob()
    acceptance = mail.acceptance(pending, (), ("a@gmail.example",), tenant="acme",
                                 mail_from="news@acme.example", category="news")
    store.accept([(pending, acceptance)])
    m = acceptance.message.id
    base = Event(DAY + 3600, "acme", m, "delivered", "a@gmail.example", category="news",
                 provider="google", ip="192.0.2.1")
    store.record_events([
        base,
        Event(DAY + 7200, "acme", m, "delivered", "b@x.example", category="news",
              provider="microsoft", ip="192.0.2.2"),
        Event(DAY + 7300, "acme", m, "bounced", "c@x.example", category="news",
              provider="microsoft", ip="192.0.2.2", bounce="hard", reason="user_unknown"),
        Event(DAY + 86400 + 10, "acme", m, "bounced", "d@x.example", category="alerts",
              bounce="soft"),
        Event(DAY + 86400 + 20, "acme", m, "complained", "a@gmail.example", category="news"),
        Event(DAY + 3600, "default", m, "delivered", "e@x.example"),
    ])
    span = {"since": DAY, "until": DAY + 2 * 86400}
    by_day = {r.key: r.counts for r in store.stats("acme", group_by="day", **span)}
    assert by_day[_day(DAY)] == {"delivered": 2, "bounced_hard": 1}
    assert by_day[_day(DAY + 86400)] == {"bounced_soft": 1, "complained": 1}
    by_provider = {r.key: r.counts for r in store.stats("acme", group_by="provider", **span)}
    assert by_provider["google"] == {"delivered": 1}
    assert by_provider["microsoft"] == {"delivered": 1, "bounced_hard": 1}
    by_ip = {r.key: r.counts for r in store.stats("acme", group_by="ip", **span)}
    assert by_ip["192.0.2.2"] == {"delivered": 1, "bounced_hard": 1}
    by_domain = {r.key: r.counts for r in store.stats("acme", group_by="domain", **span)}
    assert by_domain["acme.example"]["delivered"] == 2
    news = store.stats("acme", group_by="category", category="news", **span)
    assert [r.key for r in news] == ["news"]
    by_hour = [r.key for r in store.stats("acme", group_by="hour", since=DAY,
                                          until=DAY + 3 * 3600)]
    assert by_hour == [_day(DAY) + "T01", _day(DAY) + "T02"]
    # acceptance counts too, at the time it happened (not in this span)
    assert store.stats("default", group_by="day", **span)[0].counts == {"delivered": 1}
    assert store.stats("nobody", group_by="day", **span) == []


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def test_outcomes_count_by_provider_domain_and_ip(store: Store, mail: Mail) -> None:
    """What the delivery engine reports (complete) is counted like recorded events: the
    provider and IP of each attempt, the sending domain of the message."""
    from postoffice.storage.interfaces import DeliveryOutcome, QueueKey

    store.add_tenant("acme")
    pending = mail.blob()
    acceptance = mail.acceptance(pending, (), ("a@d.example", "b@d.example", "c@d.example"),
                                 tenant="acme", mail_from="News@Acme.Example", category="news")
    store.accept([(pending, acceptance)])
    now = time.time() + 1
    a, b, c = store.claim(QueueKey("acme", "transactional", "d.example"), now=now, limit=10,
                          lease=60, owner="n")
    store.complete([
        DeliveryOutcome(a.id, "delivered", "250 ok", now, ip="192.0.2.1", mx="mx.google.com",
                        provider="google"),
        DeliveryOutcome(b.id, "failed", "550 5.1.1 no such user", now, ip="192.0.2.1",
                        mx="mx.google.com", provider="google", reason="user_unknown", hard=True),
        DeliveryOutcome(c.id, "deferred", "451 later", now, next_attempt_at=now + 60,
                        provider="example.net", reason="other"),
    ])
    span = {"since": now - 7200, "until": now + 3600}
    by_provider = {r.key: r.counts for r in store.stats("acme", group_by="provider", **span)}
    assert by_provider["google"] == {"delivered": 1, "bounced_hard": 1}
    assert by_provider["example.net"] == {"deferred": 1}
    by_domain = {r.key: r.counts for r in store.stats("acme", group_by="domain", **span)}
    assert by_domain == {"acme.example": {"accepted": 1, "queued": 3, "delivered": 1,
                                          "bounced_hard": 1, "deferred": 1}}
    by_ip = {r.key: r.counts for r in store.stats("acme", group_by="ip", **span)}
    assert by_ip["192.0.2.1"] == {"delivered": 1, "bounced_hard": 1}
