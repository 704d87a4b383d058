"""Vacation reply records in SQL (Sieve, RFC 5230 4.2): one row per user, handle and sender
answered, kept until the `days` of the reply have passed."""

from __future__ import annotations

import sqlite3


def note_reply(db: sqlite3.Connection, user_id: int, handle: str, sender: str, now: float,
               days: int) -> bool:
    """True, and the reply recorded, when `sender` was not answered under `handle` in the last
    `days`; False when it was. Runs inside the caller's transaction."""
    db.execute("DELETE FROM vacation_replies WHERE user_id = ? AND expires_at <= ?",
               (user_id, now))
    cursor = db.execute(
        "INSERT OR IGNORE INTO vacation_replies (user_id, handle, sender, expires_at)"
        " VALUES (?, ?, ?, ?)", (user_id, handle, sender.lower(), now + days * 86400.0))
    return cursor.rowcount == 1
