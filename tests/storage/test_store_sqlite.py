"""What is particular to the SQLite backend: pragmas, migrations runner, layout."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from postoffice.storage import StorageError, open_store
from postoffice.storage.sqlite import SqliteStore
from postoffice.storage.sqlite.migrate import available, statements


def test_open_store_creates_the_layout(tmp_path: Path) -> None:
    data_dir = tmp_path / "a" / "b"
    with contextlib.closing(open_store(data_dir)) as store:
        assert store.schema_version() == available()[-1].version
    assert (data_dir / "postoffice.db").is_file()
    assert (data_dir / "blobs" / "ff").is_dir()
    assert (data_dir / "spool" / "tmp").is_dir()


def test_connection_settings(data_dir: Path) -> None:
    with SqliteStore(data_dir) as store:
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert db.execute("PRAGMA busy_timeout").fetchone() == (30000,)


def test_a_new_store_has_no_schema_until_migrated(data_dir: Path) -> None:
    with SqliteStore(data_dir) as store:
        assert store.schema_version() == 0
        with pytest.raises(StorageError):
            store.list_domains()
        assert store.migrate() == [m.version for m in available()]
        assert store.list_domains() == []


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(m.name.startswith(f"{m.version:04d}_") for m in available())


def test_statements_split_on_complete_statements() -> None:
    script = """-- a comment; with a semicolon
CREATE TABLE t (
    a TEXT DEFAULT 'x;y'  -- trailing; comment
);
CREATE INDEX i ON t (a);
-- the end
"""
    parts = statements(script)
    assert len(parts) == 2
    db = sqlite3.connect(":memory:")
    try:
        for part in parts:
            db.execute(part)
    finally:
        db.close()
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE t (a TEXT")


def test_a_failed_migration_leaves_nothing(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from postoffice.storage.sqlite import migrate

    good = available()
    broken = migrate.Migration(99, "0099_broken.sql", "CREATE TABLE x (a);\nNOT SQL;\n")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    with SqliteStore(data_dir) as store:
        with pytest.raises(StorageError):
            store.migrate()
        assert store.schema_version() == good[-1].version
        tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master")}
        assert "x" not in tables
