"""Checkpoints off the hot path. SQLite copies the write-ahead log into the database file
(a checkpoint) in the commit that takes the log past `wal_autocheckpoint` pages: that commit,
which holds the writer lock every process waits on, then also writes and syncs the database.
A server's processes raise that threshold to a fallback (`FALLBACK_PAGES`) and run a
checkpointer thread instead: a PASSIVE checkpoint every `interval` seconds, on a connection of
its own, while writers go on appending to the log. Several processes may run one: SQLite lets
one checkpoint at a time, and the others' attempts return at once."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from postoffice.storage.sqlite import store

log = logging.getLogger(__name__)

FALLBACK_PAGES = 16384
"""Log pages (64 MiB) past which a commit checkpoints by itself: when the checkpointer
cannot keep up or has stopped."""


class Checkpointer:
    def __init__(self, data_dir: Path, interval: float = 0.1) -> None:
        self._path = data_dir / store.DB_NAME
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """PASSIVE checkpoints run (for tests and the log)."""

    def start(self) -> None:
        """Start the thread; from now on this process's new connections leave checkpoints
        to it."""
        store.autocheckpoint_pages(FALLBACK_PAGES)
        self._thread = threading.Thread(target=self._main, name="postoffice-checkpoint",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _main(self) -> None:
        try:
            conn = store.connect(self._path)
        except sqlite3.Error:
            log.exception("checkpointer: cannot open %s; commits checkpoint themselves",
                          self._path)
            store.autocheckpoint_pages(store.AUTOCHECKPOINT_PAGES)
            return
        try:
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy (another checkpointer), disk: next turn
                    log.debug("checkpoint: %s", exc)
        finally:
            conn.close()
