"""Sieve scripts in SQL (ManageSieve, `postoffice sieve`, the MDA). Writers run inside the
caller's transaction."""

from __future__ import annotations

import sqlite3

from postoffice.storage.interfaces import AlreadyExists, InUse, NotFound
from postoffice.storage.mailboxes import SieveScript

_COLUMNS = "name, source, active, last_error, updated_at"


def _script(row: tuple[str, str, int, str | None, float]) -> SieveScript:
    return SieveScript(row[0], row[1], bool(row[2]), row[3], row[4])


def list_scripts(db: sqlite3.Connection, user_id: int) -> list[SieveScript]:
    return [_script(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM sieve_scripts WHERE user_id = ? ORDER BY name", (user_id,))]


def get_script(db: sqlite3.Connection, user_id: int, name: str) -> SieveScript | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM sieve_scripts WHERE user_id = ? AND name = ?",
                     (user_id, name)).fetchone()
    return None if row is None else _script(row)


def active_script(db: sqlite3.Connection, user_id: int) -> SieveScript | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM sieve_scripts WHERE user_id = ? AND active = 1",
                     (user_id,)).fetchone()
    return None if row is None else _script(row)


def put_script(db: sqlite3.Connection, user_id: int, name: str, source: str, now: float) -> None:
    db.execute("INSERT INTO sieve_scripts (user_id, name, source, updated_at) VALUES (?,?,?,?)"
               " ON CONFLICT (user_id, name) DO UPDATE SET source = excluded.source,"
               " updated_at = excluded.updated_at, last_error = NULL",
               (user_id, name, source, now))


def delete_script(db: sqlite3.Connection, user_id: int, name: str) -> None:
    found = get_script(db, user_id, name)
    if found is None:
        raise NotFound(f"no script {name}")
    if found.active:
        raise InUse(f"script {name} is active")
    db.execute("DELETE FROM sieve_scripts WHERE user_id = ? AND name = ?", (user_id, name))


def rename_script(db: sqlite3.Connection, user_id: int, old: str, new: str) -> None:
    if get_script(db, user_id, old) is None:
        raise NotFound(f"no script {old}")
    if get_script(db, user_id, new) is not None:
        raise AlreadyExists(f"script {new} exists already")
    db.execute("UPDATE sieve_scripts SET name = ? WHERE user_id = ? AND name = ?",
               (new, user_id, old))


def activate(db: sqlite3.Connection, user_id: int, name: str | None) -> None:
    if name is not None and get_script(db, user_id, name) is None:
        raise NotFound(f"no script {name}")
    db.execute("UPDATE sieve_scripts SET active = (name IS ?) WHERE user_id = ?",
               (name, user_id))


def record_error(db: sqlite3.Connection, user_id: int, name: str, error: str | None) -> None:
    db.execute("UPDATE sieve_scripts SET last_error = ? WHERE user_id = ? AND name = ?",
               (error, user_id, name))
