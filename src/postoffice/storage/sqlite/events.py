"""The message log and the event log in SQL: the Store's EventStore methods (a mixin of
SqliteStore) and the inserts the hot paths call inside their own transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from postoffice.storage.events import Event, LoggedMessage, LogQuery

INSERT_EVENT: Final = (
    "INSERT INTO events (at, tenant, message_id, recipient, type, detail, category, provider,"
    " ip, mx, reason, bounce) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
# One event per outcome, from the queue row it is about (inside complete()'s transaction).
INSERT_OUTCOME_EVENT: Final = (
    "INSERT INTO events (at, tenant, message_id, recipient, type, detail, category, ip, mx,"
    " reason, bounce)"
    " SELECT ?, q.tenant, q.message_id, q.recipient, ?, ?, m.category, ?, ?, ?, ?"
    " FROM queue q JOIN messages m ON m.id = q.message_id WHERE q.id = ?"
)
_EVENT_COLUMNS = ("at, tenant, message_id, type, recipient, detail, category, provider, ip, mx,"
                  " reason, bounce, id")
_MESSAGE_COLUMNS = ("id, tenant, received_at, source, mail_from, subject, category, metadata,"
                    " size, blob")


def event_row(e: Event) -> tuple[Any, ...]:
    return (e.at, e.tenant, e.message_id, e.recipient, e.type, e.detail, e.category,
            e.provider, e.ip, e.mx, e.reason, e.bounce)


class EventMethods:
    _db: sqlite3.Connection
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    def record_events(self, events: Sequence[Event]) -> None:
        with self._transaction():
            self._db.executemany(INSERT_EVENT, [event_row(e) for e in events])

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
