"""Aliases in SQL. Every function runs on the caller's connection; those that write expect to
be inside the caller's transaction (SqliteStore wraps them)."""

from __future__ import annotations

import json
import sqlite3

from postoffice.storage.addresses import domain_of
from postoffice.storage.interfaces import Alias, AlreadyExists, NotFound


def add(db: sqlite3.Connection, alias: Alias) -> None:
    domain = domain_of(alias.address)
    if db.execute("SELECT 1 FROM domains WHERE name = ?", (domain,)).fetchone() is None:
        raise NotFound(f"{domain} is not a local domain; add it first")
    if db.execute("SELECT 1 FROM users WHERE address = ?", (alias.address,)).fetchone():
        raise AlreadyExists(f"{alias.address} is a user; an alias cannot have its address")
    if db.execute("SELECT 1 FROM aliases WHERE address = ?", (alias.address,)).fetchone():
        raise AlreadyExists(f"alias {alias.address} exists already")
    db.execute("INSERT INTO aliases (address, targets, created_at) VALUES (?, ?, ?)",
               (alias.address, json.dumps(alias.targets), alias.created_at))


def remove(db: sqlite3.Connection, address: str) -> None:
    if db.execute("DELETE FROM aliases WHERE address = ?", (address,)).rowcount == 0:
        raise NotFound(f"no alias {address}")


def get(db: sqlite3.Connection, address: str) -> Alias | None:
    row = db.execute("SELECT address, targets, created_at FROM aliases WHERE address = ?",
                     (address,)).fetchone()
    return None if row is None else Alias(row[0], tuple(json.loads(row[1])), row[2])


def listed(db: sqlite3.Connection, domain: str | None) -> list[Alias]:
    sql = "SELECT address, targets, created_at FROM aliases"
    params: tuple[str, ...] = ()
    if domain is not None:
        sql += " WHERE address LIKE ? ESCAPE '\\'"
        params = ("%@" + _like(domain),)
    rows = db.execute(sql + " ORDER BY address", params).fetchall()
    return [Alias(a, tuple(json.loads(t)), c) for a, t, c in rows]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
