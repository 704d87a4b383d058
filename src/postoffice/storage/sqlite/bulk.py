"""Many rows in one INSERT: the rows travel as one JSON array and SQLite takes them apart
(`json_each`). One statement is one hand-off of the GIL for the lot, where `executemany`
gives it up and takes it back for every row; on a busy worker each take waits for the
event loop's turn to end."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

Statement = tuple[str, Sequence[Any]]
"""SQL and its parameters, ready to execute."""


def insert_rows(db: sqlite3.Connection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], verb: str = "INSERT", upsert: str = "") -> None:
    """`verb` INTO `table` (`columns`) each of `rows` (values: str, int, float or None);
    `upsert`: an ON CONFLICT clause."""
    found = insert_statement(table, columns, rows, verb, upsert)
    if found is not None:
        db.execute(*found)


def insert_statement(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                     verb: str = "INSERT", upsert: str = "") -> Statement | None:
    """What `insert_rows` executes (None for no rows): made before a transaction, it keeps
    the encoding out of the time the writer lock is held."""
    if not rows:
        return None
    names = ", ".join(columns)
    if len(rows) == 1:
        return (f"{verb} INTO {table} ({names}) VALUES ({','.join('?' * len(columns))})"
                f" {upsert}", rows[0])
    values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
    # "WHERE true": an ON CONFLICT after a SELECT needs a WHERE before it (SQLite's grammar)
    return (f"{verb} INTO {table} ({names}) SELECT {values} FROM json_each(?) WHERE true"
            f" {upsert}", (json.dumps(rows, separators=(",", ":")),))
