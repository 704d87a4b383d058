"""The checkpointer thread: commits leave checkpoints to it, and it keeps the log copied."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.storage import open_store
from postoffice.storage.sqlite import SqliteStore, store
from postoffice.storage.sqlite.checkpoint import FALLBACK_PAGES, Checkpointer


@pytest.fixture
def checkpointer(tmp_path: Path) -> Iterator[Checkpointer]:
    open_store(tmp_path).close()
    running = Checkpointer(tmp_path, interval=0.02)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        store.autocheckpoint_pages(store.AUTOCHECKPOINT_PAGES)


def _domains_in_database_file(data_dir: Path, copy_to: Path) -> int:
    """Domains in the database file alone, without its write-ahead log (what checkpoints
    have copied there)."""
    shutil.copyfile(data_dir / store.DB_NAME, copy_to)
    conn = sqlite3.connect(copy_to)
    try:
        return int(conn.execute("SELECT count(*) FROM domains").fetchone()[0])
    finally:
        conn.close()


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path,
                                                 checkpointer: Checkpointer) -> None:
    with contextlib.closing(open_store(tmp_path)) as opened:
        assert isinstance(opened, SqliteStore)
        pages = opened._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert pages == FALLBACK_PAGES
        for i in range(50):
            opened.add_domain(f"d{i}.example")
        # the store stays open: closing the last connection would checkpoint by itself
        deadline = time.monotonic() + 10
        while (_domains_in_database_file(data_dir=tmp_path, copy_to=tmp_path / "copy.db")
               < 50 and time.monotonic() < deadline):
            time.sleep(0.02)
        assert _domains_in_database_file(tmp_path, tmp_path / "copy.db") == 50
        assert checkpointer.checkpoints > 0


def test_without_the_thread_the_database_file_waits_for_a_checkpoint(tmp_path: Path) -> None:
    """The check above is real: with checkpoints left to a thread that is not running, the
    database file does not have the new rows."""
    open_store(tmp_path).close()
    store.autocheckpoint_pages(FALLBACK_PAGES)
    try:
        with contextlib.closing(open_store(tmp_path)) as opened:
            for i in range(50):
                opened.add_domain(f"d{i}.example")
            time.sleep(0.1)
            assert _domains_in_database_file(tmp_path, tmp_path / "copy.db") == 0
    finally:
        store.autocheckpoint_pages(store.AUTOCHECKPOINT_PAGES)


def test_without_a_checkpointer_commits_checkpoint_themselves(tmp_path: Path) -> None:
    with contextlib.closing(open_store(tmp_path)) as opened:
        assert isinstance(opened, SqliteStore)
        pages = opened._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert pages == store.AUTOCHECKPOINT_PAGES
