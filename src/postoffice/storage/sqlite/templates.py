"""Templates and idempotent answers in SQL: the Store's TemplateStore methods (a mixin of
SqliteStore)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from postoffice.storage.interfaces import NotFound
from postoffice.storage.templates import StoredAnswer, Template

_COLUMNS = "tenant, name, subject, text, html, created_at, updated_at"


class TemplateMethods:
    _db: sqlite3.Connection
    _clock: Callable[[], float]
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]

    def put_template(self, tenant: str, name: str, *, subject: str, text: str | None,
                     html: str | None) -> Template:
        now = self._clock()
        with self._transaction():
            self._db.execute(
                "INSERT INTO templates (tenant, name, subject, text, html, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (tenant, name) DO UPDATE SET"
                " subject = excluded.subject, text = excluded.text, html = excluded.html,"
                " updated_at = excluded.updated_at", (tenant, name, subject, text, html, now, now))
            row = self._db.execute(f"SELECT {_COLUMNS} FROM templates WHERE tenant = ? AND"
                                   " name = ?", (tenant, name)).fetchone()
        return Template(*row)

    def get_template(self, tenant: str, name: str) -> Template | None:
        with self._reading():
            row = self._db.execute(f"SELECT {_COLUMNS} FROM templates WHERE tenant = ? AND"
                                   " name = ?", (tenant, name)).fetchone()
        return None if row is None else Template(*row)

    def list_templates(self, tenant: str) -> list[Template]:
        with self._reading():
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM templates WHERE tenant = ?"
                                    " ORDER BY name", (tenant,)).fetchall()
        return [Template(*row) for row in rows]

    def delete_template(self, tenant: str, name: str) -> None:
        with self._transaction():
            cursor = self._db.execute("DELETE FROM templates WHERE tenant = ? AND name = ?",
                                      (tenant, name))
            if cursor.rowcount == 0:
                raise NotFound(f"no template {name}")

    def claim_key(self, tenant: str, key: str, request: str, *,
                  stale_after: float = 600.0) -> StoredAnswer | None:
        now = self._clock()
        with self._transaction():
            self._db.execute("DELETE FROM idempotency WHERE tenant = ? AND key = ? AND"
                             " status = 0 AND created_at < ?", (tenant, key, now - stale_after))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO idempotency (tenant, key, request, status, response,"
                " created_at) VALUES (?, ?, ?, 0, '', ?)", (tenant, key, request, now))
            if cursor.rowcount == 1:
                return None
            row = self._db.execute("SELECT request, status, response FROM idempotency"
                                   " WHERE tenant = ? AND key = ?", (tenant, key)).fetchone()
        return StoredAnswer(*row)

    def store_answer(self, tenant: str, key: str, answer: StoredAnswer) -> None:
        with self._transaction():
            self._db.execute("UPDATE idempotency SET status = ?, response = ? WHERE tenant = ?"
                             " AND key = ? AND request = ?",
                             (answer.status, answer.response, tenant, key, answer.request))

    def release_key(self, tenant: str, key: str) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM idempotency WHERE tenant = ? AND key = ? AND"
                             " status = 0", (tenant, key))

    def forget_answers(self, before: float) -> int:
        with self._transaction():
            return self._db.execute("DELETE FROM idempotency WHERE created_at < ?",
                                    (before,)).rowcount
