"""Suppression lists in SQL: the Store's SuppressionStore methods, as a mixin of SqliteStore.

Bounces and complaints write their event and their suppression in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from postoffice.storage.events import Event
from postoffice.storage.interfaces import NotFound
from postoffice.storage.sqlite.events import event_row, insert_events, message_domains
from postoffice.storage.suppressions import (
    Bounce,
    ComplaintReport,
    MessageTarget,
    SoftBounceRule,
    Suppression,
    SuppressionQuery,
    Unsubscribe,
    address_key,
    checked,
)

_COLUMNS: Final = ("tenant, address, reason, category, detail, source_message, source_event,"
                   " created_at, expires_at, id")
# Same scope: replace, but a suppression for good is not replaced by one that expires.
UPSERT: Final = (
    "INSERT INTO suppressions (tenant, address, reason, category, detail, source_message,"
    " source_event, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (tenant, address, category) DO UPDATE SET reason = excluded.reason,"
    " detail = excluded.detail, source_message = excluded.source_message,"
    " source_event = excluded.source_event, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at"
    " WHERE NOT (suppressions.expires_at IS NULL AND excluded.expires_at IS NOT NULL)"
)
_IN_FORCE: Final = "(expires_at IS NULL OR expires_at > ?)"


def _row(s: Suppression) -> tuple[Any, ...]:
    return (s.tenant, s.address, s.reason, s.category, s.detail, s.source_message,
            s.source_event, s.created_at, s.expires_at)


class SuppressionMethods:
    _db: sqlite3.Connection
    _clock: Callable[[], float]
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    def add_suppressions(self, items: Sequence[Suppression]) -> int:
        now = self._clock()
        rows = [_row(checked(item, now)) for item in items]
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(UPSERT, rows)
            return self._db.total_changes - before

    def remove_suppression(self, tenant: str, address: str,
                           category: str | None = None) -> int:
        where, values = "tenant = ? AND address = ?", [tenant, address_key(address)]
        if category is not None:
            where += " AND category = ?"
            values.append(category)
        with self._transaction():
            removed = self._db.execute(f"DELETE FROM suppressions WHERE {where}", values).rowcount
            if removed == 0:
                raise NotFound(f"{address} is not suppressed")
            self._db.execute("DELETE FROM soft_bounces WHERE tenant = ? AND address = ?",
                             values[:2])
        return int(removed)

    def list_suppressions(self, tenant: str, query: SuppressionQuery) -> list[Suppression]:
        where, values = [f"tenant = ? AND {_IN_FORCE}"], [tenant, self._clock()]
        for column, value in (("address", query.address and address_key(query.address)),
                              ("reason", query.reason), ("category", query.category)):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        if query.before_id is not None:
            where.append("id < ?")
            values.append(query.before_id)
        with self._reading():
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM suppressions WHERE {' AND '.join(where)}"
                " ORDER BY id DESC LIMIT ?",
                (*values, max(1, min(query.limit, 10_000)))).fetchall()
        return [Suppression(*row) for row in rows]

    def suppressed(self, tenant: str, addresses: Sequence[str],
                   category: str = "") -> dict[str, Suppression]:
        wanted = list(dict.fromkeys(map(address_key, addresses)))
        found: dict[str, Suppression] = {}
        with self._reading():
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM suppressions WHERE tenant = ? AND address IN"
                    f" ({','.join('?' * len(chunk))}) AND category IN ('', ?) AND {_IN_FORCE}"
                    " ORDER BY category != '', id", (tenant, *chunk, category, self._clock()))
                for row in rows:
                    found.setdefault(row[1], Suppression(*row))
        return found

    def record_bounces(self, bounces: Sequence[Bounce],
                       rule: SoftBounceRule) -> list[Suppression]:
        with self._transaction():
            return self._bounces(bounces, rule)

    def _bounces(self, bounces: Sequence[Bounce], rule: SoftBounceRule) -> list[Suppression]:
        """record_bounces inside the caller's transaction."""
        made: list[Suppression] = []
        for bounce in bounces:
            suppression = self._bounce(bounce, rule)
            if suppression is not None:
                made.append(suppression)
        return made

    def _bounce(self, b: Bounce, rule: SoftBounceRule) -> Suppression | None:
        address = b.recipient.strip().lower()
        severity = "" if b.delayed else ("hard" if b.hard else "soft")
        event_id = self._event_id(b.message_id, address, "bounced") if b.logged else 0
        if not b.logged:
            event_id = self._insert_event(Event(
                b.at, b.tenant, b.message_id, "deferred" if b.delayed else "bounced",
                recipient=b.recipient, detail=b.detail, category=b.category, reason=b.reason,
                bounce=severity))
        if b.delayed:
            return None
        if b.hard:
            self._db.execute("DELETE FROM soft_bounces WHERE tenant = ? AND address = ?",
                             (b.tenant, address))
            return self._suppress(Suppression(b.tenant, address, "hard_bounce", "", b.detail,
                                              b.message_id, event_id, b.at))
        count = self._db.execute(
            "INSERT INTO soft_bounces (tenant, address, count, first_at, last_at)"
            " VALUES (?, ?, 1, ?, ?) ON CONFLICT (tenant, address) DO UPDATE SET"
            " count = count + 1, last_at = excluded.last_at RETURNING count",
            (b.tenant, address, b.at, b.at)).fetchone()[0]
        if rule.in_a_row <= 0 or count < rule.in_a_row:
            return None
        return self._suppress(Suppression(
            b.tenant, address, "soft_bounce", "", f"{count} soft bounces in a row: {b.detail}",
            b.message_id, event_id, b.at, b.at + rule.days * 86400.0))

    def record_complaints(self, complaints: Sequence[ComplaintReport]) -> list[Suppression]:
        made: list[Suppression] = []
        with self._transaction():
            for c in complaints:
                event_id = self._insert_event(Event(
                    c.at, c.tenant, c.message_id, "complained", recipient=c.recipient,
                    detail=c.detail, category=c.category, reason="complaint"))
                suppression = self._suppress(Suppression(
                    c.tenant, c.recipient.strip().lower(), "complaint", "", c.detail,
                    c.message_id, event_id, c.at))
                if suppression is not None:
                    made.append(suppression)
        return made

    def record_unsubscribe(self, request: Unsubscribe) -> Suppression | None:
        address = address_key(request.recipient)
        scope = "" if request.every_category else request.category
        try:
            checked(Suppression(request.tenant, address, "unsubscribe", scope), request.at)
        except ValueError:
            return None
        with self._transaction():
            owner = self._db.execute("SELECT tenant FROM messages WHERE id = ?",
                                     (request.message_id,)).fetchone()
            if owner is not None and owner[0] != request.tenant:
                return None
            if self._db.execute(
                    "SELECT 1 FROM suppressions WHERE tenant = ? AND address = ?"
                    " AND category IN ('', ?) AND expires_at IS NULL",
                    (request.tenant, address, scope)).fetchone() is not None:
                return None
            event_id = self._insert_event(Event(
                request.at, request.tenant, request.message_id, "unsubscribed",
                recipient=request.recipient, detail=request.detail, category=request.category,
                reason="unsubscribe"))
            return self._suppress(Suppression(
                request.tenant, address, "unsubscribe", scope, request.detail,
                request.message_id, event_id, request.at))

    def message_target(self, message_id: str, item: int = 0) -> MessageTarget | None:
        with self._reading():
            item_recipient = ""
            if item:
                row = self._db.execute("SELECT message_id, recipient FROM queue WHERE id = ?",
                                       (item,)).fetchone()
                if row is not None and (not message_id or row[0] == message_id):
                    message_id, item_recipient = str(row[0]), str(row[1])
            return self._target(message_id, item_recipient) if message_id else None

    def message_by_header_id(self, header_id: str) -> MessageTarget | None:
        if not header_id:
            return None
        with self._reading():
            row = self._db.execute("SELECT id FROM messages WHERE header_id = ?"
                                   " ORDER BY id DESC LIMIT 1", (header_id,)).fetchone()
            return None if row is None else self._target(str(row[0]), "")

    def _target(self, message_id: str, item_recipient: str) -> MessageTarget | None:
        row = self._db.execute("SELECT tenant, category, mail_from FROM messages WHERE id = ?",
                               (message_id,)).fetchone()
        if row is None:
            return None
        recipients = tuple(str(r[0]) for r in self._db.execute(
            "SELECT recipient FROM queue WHERE message_id = ? ORDER BY id", (message_id,)))
        return MessageTarget(str(row[0]), message_id, str(row[1]), str(row[2]), recipients,
                             item_recipient)

    def _insert_event(self, event: Event) -> int:
        domain = message_domains(self._db, [event.message_id]).get(event.message_id, "")
        return insert_events(self._db, [event_row(event)], [domain])

    def _event_id(self, message_id: str, address: str, kind: str) -> int:
        row = self._db.execute(
            "SELECT id FROM events WHERE message_id = ? AND type = ? AND recipient = ?"
            " COLLATE NOCASE ORDER BY id DESC LIMIT 1", (message_id, kind, address)).fetchone()
        return 0 if row is None else int(row[0])

    def _suppress(self, item: Suppression) -> Suppression | None:
        """Write one suppression (inside the caller's transaction); None when a stronger one
        stands."""
        try:
            stored = checked(item, item.created_at)
        except ValueError:
            return None
        if self._db.execute(UPSERT, _row(stored)).rowcount == 0:
            return None
        return stored
