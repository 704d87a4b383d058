"""The outbound queue in SQL: listing, claiming with leases, outcomes, operator actions.

Every function runs on the caller's connection; those that write expect to be inside the
caller's transaction (SqliteStore wraps them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from postoffice.storage.interfaces import (
    QUEUE_PENDING,
    DeliveryOutcome,
    QueueBacklog,
    QueueFilter,
    QueueItem,
    QueueKey,
)
from postoffice.storage.sqlite.events import EventRow, insert_events, sending_domain

COLUMNS: Final = (
    "q.id, q.message_id, q.recipient, q.notify, q.orcpt, q.lane, q.status, q.attempts,"
    " q.next_attempt_at, q.created_at, q.last_error, m.mail_from, m.size, q.tenant, q.domain,"
    " q.last_attempt_at, q.dsn_pending, q.delay_notified"
)
FROM: Final = " FROM queue q JOIN messages m ON m.id = q.message_id"
_PENDING_SQL: Final = "q.status IN ('queued', 'deferred')"
assert QUEUE_PENDING == ("queued", "deferred")


def item(row: Sequence[Any]) -> QueueItem:
    qid, mid, rcpt, notify, orcpt, lane, status, attempts, next_at, created, error, *rest = row
    mail_from, size, tenant, domain, last_attempt, dsn_pending, delay_notified = rest
    return QueueItem(
        qid, mid, rcpt, tuple(filter(None, notify.split(","))), orcpt, lane, status, attempts,
        next_at, created, error, mail_from, size, tenant, domain, last_attempt,
        bool(dsn_pending), bool(delay_notified),
    )


def where_clause(where: QueueFilter | None) -> tuple[str, list[Any]]:
    """SQL conditions (joined with AND, or "1") and their parameters."""
    if where is None:
        return "1", []
    parts: list[str] = []
    params: list[Any] = []
    if where.ids:
        parts.append(f"q.id IN ({','.join('?' * len(where.ids))})")
        params.extend(where.ids)
    for column, value in (("status", where.status), ("domain", where.domain),
                          ("lane", where.lane), ("tenant", where.tenant)):
        if value is not None:
            parts.append(f"q.{column} = ?")
            params.append(value.lower() if column == "domain" else value)
    if where.created_before is not None:
        parts.append("q.created_at < ?")
        params.append(where.created_before)
    return " AND ".join(parts) or "1", params


def list_items(
    db: sqlite3.Connection, where: QueueFilter | None, limit: int, after_id: int
) -> list[QueueItem]:
    condition, params = where_clause(where)
    rows = db.execute(
        f"SELECT {COLUMNS}{FROM} WHERE {condition} AND q.id > ? ORDER BY q.id LIMIT ?",
        (*params, after_id, limit),
    ).fetchall()
    return [item(row) for row in rows]


BACKLOG_CAP: Final = 1000
"""Due items counted per queue at most: the scheduler needs "how many, roughly", and the
engine counts again at every look."""


def backlog(db: sqlite3.Connection, now: float) -> list[QueueBacklog]:
    """Due, unclaimed items per (tenant, lane, domain), each count capped at BACKLOG_CAP.

    Cost grows with the number of queues, not of items: the distinct keys are found by seeking
    through the queue_due index one key at a time (a skip scan), and each key's count reads at
    most BACKLOG_CAP index entries (the index covers the lease column too)."""
    counts: dict[QueueKey, tuple[int, float]] = {}
    for status in ("queued", "deferred"):
        key = _next_key(db, status, None)
        while key is not None:
            n, oldest = db.execute(
                "SELECT count(*), min(next_attempt_at) FROM (SELECT next_attempt_at FROM queue"
                " WHERE status = ? AND tenant = ? AND lane = ? AND domain = ?"
                " AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?)"
                " ORDER BY next_attempt_at LIMIT ?)",
                (status, *key, now, now, BACKLOG_CAP),
            ).fetchone()
            if n:
                qkey = QueueKey(*key)
                had, was = counts.get(qkey, (0, oldest))
                counts[qkey] = (min(BACKLOG_CAP, had + n), min(was, oldest))
            key = _next_key(db, status, key)
    return [QueueBacklog(k, n, oldest) for k, (n, oldest) in counts.items()]


_NEXT_KEY: Final = (
    # (tenant, lane, domain) after `key` in index order: same tenant and lane, a later
    # domain; else same tenant, a later lane; else a later tenant. Each one index seek (a
    # row-value comparison would scan the rest of the tenant's items).
    ("tenant = ? AND lane = ? AND domain > ?", 3),
    ("tenant = ? AND lane > ?", 2),
    ("tenant > ?", 1),
)


def _next_key(
    db: sqlite3.Connection, status: str, key: tuple[str, str, str] | None
) -> tuple[str, str, str] | None:
    conditions = [("1", 0)] if key is None else _NEXT_KEY
    for condition, used in conditions:
        row = db.execute(
            f"SELECT tenant, lane, domain FROM queue WHERE status = ? AND {condition}"
            " ORDER BY tenant, lane, domain LIMIT 1",
            (status, *(key or ())[:used]),
        ).fetchone()
        if row is not None:
            return (row[0], row[1], row[2])
    return None


def claim(
    db: sqlite3.Connection, key: QueueKey, now: float, limit: int, lease: float, owner: str
) -> list[QueueItem]:
    ids = [
        row
        for status in QUEUE_PENDING
        for row in db.execute(
            "SELECT q.id, q.next_attempt_at FROM queue q WHERE q.status = ? AND q.tenant = ?"
            " AND q.lane = ? AND q.domain = ? AND q.next_attempt_at <= ?"
            " AND (q.leased_until IS NULL OR q.leased_until <= ?)"
            " ORDER BY q.next_attempt_at LIMIT ?",  # the index's order: no sort
            (status, key.tenant, key.lane, key.domain, now, now, limit),
        )
    ]
    ids = [i for i, _ in sorted(ids, key=lambda row: row[1])[:limit]]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    db.execute(
        f"UPDATE queue SET leased_until = ?, leased_by = ? WHERE id IN ({marks})",
        (now + lease, owner, *ids),
    )
    rows = db.execute(f"SELECT {COLUMNS}{FROM} WHERE q.id IN ({marks}) ORDER BY q.id", ids)
    return [item(row) for row in rows]


OUTCOME_EVENTS: Final = {"delivered": "delivered", "deferred": "deferred", "failed": "bounced"}


def complete(db: sqlite3.Connection, outcomes: Sequence[DeliveryOutcome]) -> None:
    for o in outcomes:
        if o.kind not in ("delivered", "deferred", "failed"):
            raise ValueError(f"unknown outcome kind {o.kind!r}")
    db.executemany(
        "UPDATE queue SET status = ?, attempts = attempts + 1, last_attempt_at = ?,"
        " last_error = ?, next_attempt_at = coalesce(?, next_attempt_at),"
        " dsn_pending = ?, leased_until = NULL, leased_by = NULL WHERE id = ?",
        [
            (o.kind, o.at, None if o.kind == "delivered" else o.detail, o.next_attempt_at,
             int(o.kind == "failed" and o.notify_failure), o.item_id)
            for o in outcomes
        ],
    )
    ids = [o.item_id for o in outcomes]
    found: dict[int, tuple[str, str, str, str, str]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for qid, *rest in db.execute(
                "SELECT q.id, q.tenant, q.message_id, q.recipient, m.category, m.mail_from"
                " FROM queue q JOIN messages m ON m.id = q.message_id"
                f" WHERE q.id IN ({','.join('?' * len(chunk))})", chunk):
            found[qid] = tuple(rest)
    rows: list[EventRow] = []
    domains: list[str] = []
    delivered: list[tuple[str, str]] = []
    for o in outcomes:
        if o.item_id not in found:
            continue
        tenant, message_id, recipient, category, mail_from = found[o.item_id]
        bounce = ("hard" if o.hard else "soft") if o.kind == "failed" and o.reason else ""
        if o.signed:
            rows.append((o.at, tenant, message_id, recipient, "signed", o.signed, category,
                         o.provider, o.ip, o.mx, "", ""))
            domains.append(sending_domain(mail_from))
        rows.append((o.at, tenant, message_id, recipient, OUTCOME_EVENTS[o.kind], o.detail,
                     category, o.provider, o.ip, o.mx, o.reason, bounce))
        domains.append(sending_domain(mail_from))
        if o.kind == "delivered":
            delivered.append((tenant, recipient.lower()))
    insert_events(db, rows, domains)
    # A delivery ends a run of soft bounces to its address.
    if delivered and db.execute("SELECT 1 FROM soft_bounces LIMIT 1").fetchone() is not None:
        db.executemany("DELETE FROM soft_bounces WHERE tenant = ? AND address = ?", delivered)


def release_leases(db: sqlite3.Connection, owner: str) -> int:
    cursor = db.execute(
        "UPDATE queue SET leased_until = NULL, leased_by = NULL WHERE leased_by = ?", (owner,)
    )
    return cursor.rowcount


def postpone(db: sqlite3.Connection, ids: Sequence[int], at: float) -> None:
    db.executemany(
        "UPDATE queue SET next_attempt_at = ?, leased_until = NULL, leased_by = NULL WHERE id = ?",
        [(at, i) for i in ids],
    )


def lease_owners(db: sqlite3.Connection) -> list[str]:
    rows = db.execute("SELECT DISTINCT leased_by FROM queue WHERE leased_by IS NOT NULL")
    return [row[0] for row in rows]


def owed_failure_notices(db: sqlite3.Connection, limit: int) -> list[QueueItem]:
    rows = db.execute(
        f"SELECT {COLUMNS}{FROM} WHERE q.dsn_pending = 1 ORDER BY q.id LIMIT ?", (limit,)
    ).fetchall()
    return [item(row) for row in rows]


def owed_delay_notices(db: sqlite3.Connection, created_before: float, limit: int) -> list[QueueItem]:
    # The first three terms are those of the partial index queue_delay.
    rows = db.execute(
        f"SELECT {COLUMNS}{FROM} WHERE q.status = 'deferred' AND q.delay_notified = 0"
        " AND instr(q.notify, 'DELAY') > 0"
        " AND q.created_at <= ? AND (',' || q.notify || ',') LIKE '%,DELAY,%'"
        " ORDER BY q.id LIMIT ?",
        (created_before, limit),
    ).fetchall()
    return [item(row) for row in rows]


def set_flag(db: sqlite3.Connection, column: str, value: int, ids: Sequence[int]) -> None:
    assert column in ("dsn_pending", "delay_notified")
    db.executemany(f"UPDATE queue SET {column} = ? WHERE id = ?", [(value, i) for i in ids])


def _update(db: sqlite3.Connection, assignments: str, values: Sequence[Any],
            where: QueueFilter, extra: str) -> int:
    condition, params = where_clause(where)
    cursor = db.execute(
        f"UPDATE queue SET {assignments} WHERE id IN"
        f" (SELECT q.id FROM queue q WHERE {condition} AND {extra})",
        (*values, *params),
    )
    return cursor.rowcount


def hold(db: sqlite3.Connection, where: QueueFilter) -> int:
    return _update(db, "status = 'held', leased_until = NULL, leased_by = NULL", (), where,
                   _PENDING_SQL)


def release(db: sqlite3.Connection, where: QueueFilter, now: float) -> int:
    return _update(db, "status = 'queued', next_attempt_at = ?", (now,), where,
                   "q.status = 'held'")


def retry_now(db: sqlite3.Connection, where: QueueFilter, now: float) -> int:
    return _update(db, "next_attempt_at = ?", (now,), where, _PENDING_SQL)


def bounce(db: sqlite3.Connection, where: QueueFilter, now: float, reason: str) -> int:
    return _update(
        db,
        "status = 'failed', last_error = ?, last_attempt_at = ?, dsn_pending = 1,"
        " leased_until = NULL, leased_by = NULL",
        (reason, now), where, "q.status IN ('queued', 'deferred', 'held')",
    )


def delete(db: sqlite3.Connection, where: QueueFilter) -> int:
    condition, params = where_clause(where)
    cursor = db.execute(
        f"DELETE FROM queue WHERE id IN (SELECT q.id FROM queue q WHERE {condition})", params
    )
    return cursor.rowcount
