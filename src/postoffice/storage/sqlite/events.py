"""The message log and the event log in SQL: the Store's EventStore methods (a mixin of
SqliteStore) and the inserts the hot paths call inside their own transactions."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from postoffice.storage.events import Event, LoggedMessage, LogQuery
from postoffice.storage.sqlite.bulk import Statement, insert_rows, insert_statement

INSERT_EVENT: Final = (
    "INSERT INTO events (at, tenant, message_id, recipient, type, detail, category, provider,"
    " ip, mx, reason, bounce) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
EVENT_COLUMNS: Final = ("at", "tenant", "message_id", "recipient", "type", "detail", "category",
                        "provider", "ip", "mx", "reason", "bounce")
STATS_COLUMNS: Final = ("tenant", "hour", "type", "category", "provider", "domain", "ip",
                        "count")
ADD_COUNTS: Final = "ON CONFLICT DO UPDATE SET count = count + excluded.count"
_EVENT_COLUMNS = ("at, tenant, message_id, type, recipient, detail, category, provider, ip, mx,"
                  " reason, bounce, id")
_MESSAGE_COLUMNS = ("id, tenant, received_at, source, mail_from, subject, category, metadata,"
                    " size, blob")


EventRow = tuple[float, str, str, str, str, str, str, str, str, str, str, str]
"""An event in INSERT_EVENT's column order."""


def event_row(e: Event) -> EventRow:
    return (e.at, e.tenant, e.message_id, e.recipient, e.type, e.detail, e.category,
            e.provider, e.ip, e.mx, e.reason, e.bounce)


def sending_domain(mail_from: str) -> str:
    """The domain the stats count a message under: its envelope sender's, lower case."""
    return mail_from[mail_from.find("@") + 1:].lower()


def insert_events(db: sqlite3.Connection, rows: Sequence[EventRow],
                  domains: Sequence[str]) -> int:
    """Write events (inside the caller's transaction) and count them in stats_hourly, one
    upsert per distinct counter; `domains[i]` is the sending domain of rows[i]. Returns the
    id of the last event written."""
    if not rows:
        return 0
    last = 0
    if len(rows) == 1:
        last = int(db.execute(INSERT_EVENT, rows[0]).lastrowid or 0)
    else:
        insert_rows(db, "events", EVENT_COLUMNS, rows)
    db.execute(*_count_statement(rows, domains))
    return last


def event_statements(rows: Sequence[EventRow], domains: Sequence[str]) -> list[Statement]:
    """`insert_events` as statements to execute later (two at most)."""
    if not rows:
        return []
    found = insert_statement("events", EVENT_COLUMNS, rows)
    assert found is not None
    return [found, _count_statement(rows, domains)]


def _count_statement(rows: Sequence[EventRow], domains: Sequence[str]) -> Statement:
    """The upsert adding the events to their hourly counters."""
    counts: Counter[tuple[str, int, str, str, str, str, str]] = Counter()
    for row, domain in zip(rows, domains, strict=True):
        at, tenant, _, _, kind, _, category, provider, ip, _, _, bounce = row
        if kind == "bounced" and bounce:
            kind = "bounced_" + bounce
        counts[(tenant, int(at / 3600), kind, category, provider, domain, ip)] += 1
    found = insert_statement("stats_hourly", STATS_COLUMNS,
                             [(*key, n) for key, n in counts.items()], upsert=ADD_COUNTS)
    assert found is not None
    return found


def message_domains(db: sqlite3.Connection, message_ids: Sequence[str]) -> dict[str, str]:
    """The sending domain of each of these messages that exists."""
    found: dict[str, str] = {}
    ids = list(dict.fromkeys(message_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update((i, sending_domain(f)) for i, f in db.execute(
            f"SELECT id, mail_from FROM messages WHERE id IN ({','.join('?' * len(chunk))})",
            chunk))
    return found


class EventMethods:
    _db: sqlite3.Connection
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    def record_events(self, events: Sequence[Event]) -> None:
        with self._transaction():
            domains = message_domains(self._db, [e.message_id for e in events])
            insert_events(self._db, [event_row(e) for e in events],
                          [domains.get(e.message_id, "") for e in events])

    def message_events(self, tenant: str, message_id: str) -> list[Event]:
        with self._reading():
            rows = self._db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE message_id = ? AND tenant = ?"
                " ORDER BY id", (message_id, tenant)).fetchall()
        return [Event(*row) for row in rows]

    def logged_message(self, tenant: str, message_id: str) -> LoggedMessage | None:
        with self._reading():
            row = self._db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                                   " WHERE id = ? AND tenant = ?", (message_id, tenant)).fetchone()
            if row is None:
                return None
            return self._with_recipients([row])[0]

    def search_messages(self, tenant: str, query: LogQuery) -> list[LoggedMessage]:
        where: list[str] = ["m.tenant = ?"]
        values: list[Any] = [tenant]
        for value, clause in ((query.sender, "m.mail_from = ? COLLATE NOCASE"),
                              (query.subject, "instr(lower(m.subject), lower(?)) > 0"),
                              (query.category, "m.category = ?"),
                              (query.since, "m.received_at >= ?"),
                              (query.until, "m.received_at < ?"),
                              (query.before_id, "m.id < ?")):
            if value is not None:
                where.append(clause)
                values.append(value)
        recipient_terms = []
        for value, clause in ((query.recipient, "q.recipient = ? COLLATE NOCASE"),
                              (query.status, "q.status = ?")):
            if value is not None:
                recipient_terms.append(clause)
                values.append(value)
        if recipient_terms:
            where.append("EXISTS (SELECT 1 FROM queue q WHERE q.message_id = m.id AND "
                         + " AND ".join(recipient_terms) + ")")
        with self._reading():
            rows = self._db.execute(
                f"SELECT {', '.join('m.' + c.strip() for c in _MESSAGE_COLUMNS.split(','))}"
                f" FROM messages m WHERE {' AND '.join(where)} ORDER BY m.id DESC LIMIT ?",
                (*values, max(1, min(query.limit, 1000)))).fetchall()
            return self._with_recipients(rows)

    def _with_recipients(self, rows: Sequence[tuple[Any, ...]]) -> list[LoggedMessage]:
        ids = [row[0] for row in rows]
        recipients: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for message_id, address, status in self._db.execute(
                    f"SELECT message_id, recipient, status FROM queue"
                    f" WHERE message_id IN ({marks}) ORDER BY id", chunk):
                recipients[message_id].append((address, status))
        return [_logged(row, recipients[row[0]]) for row in rows]


def _logged(row: Sequence[Any], recipients: list[tuple[str, str]]) -> LoggedMessage:
    id_, tenant, received_at, source, mail_from, subject, category, metadata, size, blob = row
    return LoggedMessage(id_, tenant, received_at, source, mail_from, subject, category,
                         metadata, size, blob, tuple(recipients))
