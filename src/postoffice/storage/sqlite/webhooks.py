"""Webhooks in SQL: the Store's WebhookStore methods, as a mixin of SqliteStore."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from postoffice.storage.events import Event
from postoffice.storage.interfaces import NotFound
from postoffice.storage.webhooks import (
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookJob,
    WebhookResult,
)

_HOOK_COLUMNS: Final = "id, tenant, url, events, active, created_at"
_DELIVERY_COLUMNS: Final = ("id, webhook_id, event_id, event_type, status, attempts,"
                            " next_attempt_at, last_status_code, last_error, created_at,"
                            " delivered_at")
_EVENT_COLUMNS: Final = ("at, tenant, message_id, type, recipient, detail, category, provider,"
                         " ip, mx, id")
STATUSES: Final = ("pending", "delivered", "failed")


def _hook(row: Sequence[Any]) -> Webhook:
    id_, tenant, url, events, active, created_at = row
    return Webhook(id_, tenant, url, tuple(json.loads(events)), bool(active), created_at)


def _delivery(row: Sequence[Any], history: Sequence[WebhookAttempt]) -> WebhookDelivery:
    (id_, hook_id, event_id, kind, status, attempts, next_at, code, error, created_at,
     delivered_at) = row
    return WebhookDelivery(id_, hook_id, event_id, kind, status, attempts, next_at, code, error,
                           created_at, delivered_at, tuple(history))


class WebhookMethods:
    _db: sqlite3.Connection
    _clock: Callable[[], float]
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    # subscriptions

    def add_webhook(self, tenant: str, url: str, events: Sequence[str], secret: str) -> Webhook:
        now = self._clock()
        with self._transaction():
            if self._db.execute("SELECT 1 FROM tenants WHERE name = ?",
                                (tenant,)).fetchone() is None:
                raise NotFound(f"no tenant {tenant}")
            cursor = self._db.execute(
                "INSERT INTO webhooks (tenant, url, events, secret, active, created_at)"
                " VALUES (?, ?, ?, ?, 1, ?)", (tenant, url, json.dumps(list(events)), secret, now))
        return Webhook(int(cursor.lastrowid or 0), tenant, url, tuple(events), True, now)

    def get_webhook(self, tenant: str, webhook_id: int) -> Webhook | None:
        with self._reading():
            row = self._db.execute(f"SELECT {_HOOK_COLUMNS} FROM webhooks"
                                   " WHERE id = ? AND tenant = ?", (webhook_id, tenant)).fetchone()
        return None if row is None else _hook(row)

    def list_webhooks(self, tenant: str) -> list[Webhook]:
        with self._reading():
            rows = self._db.execute(f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE tenant = ?"
                                    " ORDER BY id", (tenant,)).fetchall()
        return [_hook(row) for row in rows]

    def update_webhook(self, tenant: str, webhook_id: int, *, url: str | None = None,
                       events: Sequence[str] | None = None,
                       active: bool | None = None) -> Webhook:
        changes: dict[str, Any] = {}
        if url is not None:
            changes["url"] = url
        if events is not None:
            changes["events"] = json.dumps(list(events))
        if active is not None:
            changes["active"] = int(active)
        with self._transaction():
            self._owned(tenant, webhook_id)
            if changes:
                assignments = ", ".join(f"{name} = ?" for name in changes)
                self._db.execute(f"UPDATE webhooks SET {assignments} WHERE id = ?",
                                 (*changes.values(), webhook_id))
            if active is False:
                self._db.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
                    " last_error = 'the webhook was deactivated'"
                    " WHERE webhook_id = ? AND status = 'pending'", (webhook_id,))
            row = self._db.execute(f"SELECT {_HOOK_COLUMNS} FROM webhooks WHERE id = ?",
                                   (webhook_id,)).fetchone()
        return _hook(row)

    def set_webhook_secret(self, tenant: str, webhook_id: int, secret: str) -> None:
        with self._transaction():
            self._owned(tenant, webhook_id)
            self._db.execute("UPDATE webhooks SET secret = ? WHERE id = ?", (secret, webhook_id))

    def delete_webhook(self, tenant: str, webhook_id: int) -> None:
        with self._transaction():
            self._owned(tenant, webhook_id)
            self._db.execute("DELETE FROM webhooks WHERE id = ?", (webhook_id,))

    def add_test_delivery(self, tenant: str, webhook_id: int, now: float) -> WebhookDelivery:
        with self._transaction():
            self._owned(tenant, webhook_id)
            cursor = self._db.execute(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, status,"
                " attempts, next_attempt_at, created_at) VALUES (?, NULL, 'test', 'pending', 0,"
                " ?, ?)", (webhook_id, now, now))
        return WebhookDelivery(int(cursor.lastrowid or 0), webhook_id, None, "test", "pending",
                               0, now, None, "", now)

    def list_webhook_deliveries(self, tenant: str, webhook_id: int, *,
                                status: str | None = None, before_id: int | None = None,
                                limit: int = 50) -> list[WebhookDelivery]:
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        where: list[str] = ["webhook_id = ?"]
        values: list[Any] = [webhook_id]
        if status is not None:
            where.append("status = ?")
            values.append(status)
        if before_id is not None:
            where.append("id < ?")
            values.append(before_id)
        with self._reading():
            if self._db.execute("SELECT 1 FROM webhooks WHERE id = ? AND tenant = ?",
                                (webhook_id, tenant)).fetchone() is None:
                raise NotFound(f"tenant {tenant} has no webhook {webhook_id}")
            rows = self._db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {' AND '.join(where)}"
                " ORDER BY id DESC LIMIT ?", (*values, max(1, min(limit, 1000)))).fetchall()
            history: dict[int, list[WebhookAttempt]] = defaultdict(list)
            ids = [row[0] for row in rows]
            if ids:
                marks = ",".join("?" * len(ids))
                for delivery_id, *attempt in self._db.execute(
                        "SELECT delivery_id, at, status_code, error, duration FROM webhook_attempts"
                        f" WHERE delivery_id IN ({marks}) ORDER BY rowid", ids):
                    history[delivery_id].append(WebhookAttempt(*attempt))
        return [_delivery(row, history[row[0]]) for row in rows]

    def _owned(self, tenant: str, webhook_id: int) -> None:
        if self._db.execute("SELECT 1 FROM webhooks WHERE id = ? AND tenant = ?",
                            (webhook_id, tenant)).fetchone() is None:
            raise NotFound(f"tenant {tenant} has no webhook {webhook_id}")

    # the dispatcher

    def fan_out_events(self, now: float, limit: int = 1000) -> int:
        with self._reading():
            (last,) = self._db.execute("SELECT last_event_id FROM webhook_cursor").fetchone()
            (newest,) = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
        if newest == last:
            return 0
        with self._transaction():
            (last,) = self._db.execute("SELECT last_event_id FROM webhook_cursor").fetchone()
            if newest < last:  # the whole log was purged and ids started again
                last = 0
            if self._db.execute("SELECT 1 FROM webhooks WHERE active = 1 LIMIT 1").fetchone() \
                    is None:  # nobody listens: skip to the end of the log
                self._db.execute("UPDATE webhook_cursor SET last_event_id = ?", (newest,))
                return 0
            events = self._db.execute(
                "SELECT id, tenant, type FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (last, limit)).fetchall()
            if not events:
                self._db.execute("UPDATE webhook_cursor SET last_event_id = ?", (last,))
                return 0
            hooks: dict[str, list[tuple[int, tuple[str, ...]]]] = defaultdict(list)
            for hook_id, tenant, subscribed in self._db.execute(
                    "SELECT id, tenant, events FROM webhooks WHERE active = 1"):
                hooks[tenant].append((hook_id, tuple(json.loads(subscribed))))
            rows = [(hook_id, event_id, kind, now, now)
                    for event_id, tenant, kind in events
                    for hook_id, types in hooks.get(tenant, ())
                    if "*" in types or kind in types]
            self._db.executemany(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, status,"
                " attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
                rows)
            self._db.execute("UPDATE webhook_cursor SET last_event_id = ?", (events[-1][0],))
        return len(events)

    def claim_webhook_deliveries(self, now: float, limit: int, lease: float) -> list[WebhookJob]:
        if limit < 1:
            return []
        with self._transaction():
            rows = self._db.execute(
                "SELECT d.id, d.webhook_id, w.url, w.secret, d.event_id, d.event_type,"
                " d.attempts, d.created_at, w.tenant FROM webhook_deliveries d"
                " JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.status = 'pending' AND d.next_attempt_at <= ?"
                " ORDER BY d.next_attempt_at LIMIT ?", (now, limit)).fetchall()
            if not rows:
                return []
            self._db.executemany("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
                                 [(now + lease, row[0]) for row in rows])
            event_ids = [row[4] for row in rows if row[4] is not None]
            events: dict[int, Event] = {}
            if event_ids:
                marks = ",".join("?" * len(event_ids))
                for found in self._db.execute(
                        f"SELECT {_EVENT_COLUMNS} FROM events WHERE id IN ({marks})", event_ids):
                    events[found[-1]] = Event(*found)
        jobs = []
        for delivery_id, hook_id, url, secret, event_id, kind, attempts, created_at, tenant in rows:
            event = events.get(event_id) if event_id is not None else None
            if event is None:  # a test event, or one purged from the log since
                event = Event(at=created_at, tenant=tenant, message_id="", type=kind)
            jobs.append(WebhookJob(delivery_id, hook_id, url, secret, event, attempts,
                                   created_at))
        return jobs

    def finish_webhook_deliveries(self, results: Sequence[WebhookResult]) -> None:
        if not results:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT INTO webhook_attempts (delivery_id, at, status_code, error, duration)"
                " SELECT ?, ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM webhook_deliveries WHERE id = ? AND status = 'pending')",
                [(r.delivery_id, r.attempt.at, r.attempt.status_code, r.attempt.error,
                  r.attempt.duration, r.delivery_id) for r in results])
            self._db.executemany(
                "UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,"
                " next_attempt_at = ?, last_status_code = ?, last_error = ?,"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
                " WHERE id = ? AND status = 'pending'",
                [(r.status, r.next_attempt_at if r.status == "pending" else None,
                  r.attempt.status_code, r.attempt.error, r.status, r.attempt.at, r.delivery_id)
                 for r in results])

    def purge_webhook_deliveries(self, before: float) -> int:
        with self._transaction():
            cursor = self._db.execute("DELETE FROM webhook_deliveries WHERE status <> 'pending'"
                                      " AND created_at < ?", (before,))
        return cursor.rowcount
