"""Greylisting triplets and client networks in SQL (the decisions are policy/greylist.py's).

Every function runs on the caller's connection; those that write expect to be inside the
caller's transaction (SqliteStore wraps them)."""

from __future__ import annotations

import sqlite3

from postoffice.storage.interfaces import GreylistEntry, GreylistNetwork


def get(db: sqlite3.Connection, network: str, sender: str, recipient: str) -> GreylistEntry | None:
    row = db.execute(
        "SELECT first_seen, expires_at, passed FROM greylist"
        " WHERE network = ? AND sender = ? AND recipient = ?",
        (network, sender, recipient),
    ).fetchone()
    if row is None:
        return None
    return GreylistEntry(network, sender, recipient, row[0], row[1], bool(row[2]))


def put(db: sqlite3.Connection, entry: GreylistEntry) -> None:
    db.execute(
        "INSERT OR REPLACE INTO greylist"
        " (network, sender, recipient, first_seen, expires_at, passed) VALUES (?, ?, ?, ?, ?, ?)",
        (entry.network, entry.sender, entry.recipient, entry.first_seen, entry.expires_at,
         int(entry.passed)),
    )


def get_network(db: sqlite3.Connection, network: str) -> GreylistNetwork | None:
    row = db.execute(
        "SELECT passes, expires_at FROM greylist_networks WHERE network = ?", (network,)
    ).fetchone()
    return None if row is None else GreylistNetwork(network, row[0], row[1])


def put_network(db: sqlite3.Connection, entry: GreylistNetwork) -> None:
    db.execute(
        "INSERT OR REPLACE INTO greylist_networks (network, passes, expires_at) VALUES (?, ?, ?)",
        (entry.network, entry.passes, entry.expires_at),
    )


def delete_expired(db: sqlite3.Connection, now: float) -> int:
    triplets = db.execute("DELETE FROM greylist WHERE expires_at <= ?", (now,)).rowcount
    networks = db.execute("DELETE FROM greylist_networks WHERE expires_at <= ?", (now,)).rowcount
    return triplets + networks
