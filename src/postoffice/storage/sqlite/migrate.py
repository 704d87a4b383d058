"""Numbered schema migrations: storage/migrations/NNNN_name.sql, applied in order.

Each pending migration runs in its own `BEGIN IMMEDIATE` transaction together with the
`schema_migrations` row that records it, so processes starting at once apply each exactly once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Final

_CREATE_LEDGER: Final = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    applied_at  REAL    NOT NULL
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    """File name, e.g. "0001_initial.sql"."""
    sql: str


def available() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found: dict[int, Migration] = {}
    for entry in (resources.files("postoffice.storage") / "migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version = int(entry.name.split("_", 1)[0])
        if version in found:
            raise RuntimeError(f"two migrations numbered {version}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def statements(script: str) -> list[str]:
    """Split a script into complete statements (a statement ends at the end of a line)."""
    result: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            result.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        not part.strip() or part.strip().startswith("--") for part in buffer.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end: {buffer.strip()[:60]!r}")
    return result


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, now: float) -> list[int]:
    """Apply pending migrations (conn in autocommit mode); return the versions applied."""
    conn.execute(_CREATE_LEDGER)
    applied: list[int] = []
    for migration in available():
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                for statement in statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now),
                )
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied
