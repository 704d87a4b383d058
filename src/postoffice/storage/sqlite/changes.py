"""Whether anything was committed to the database since a moment: without reading a table.

SQLite's `PRAGMA data_version` on a connection changes whenever another connection, of this
process or any other, commits a change (it reads the WAL index in shared memory). A
`ChangeCounter` keeps a connection of its own that never writes, so its value changes with
every commit anywhere. IMAP sessions use it to tell that the folder state they read last
is still current, and answer a FETCH FLAGS or a SEARCH UNSEEN from memory.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from postoffice.storage.sqlite.store import DB_NAME


class ChangeCounter:
    """Use from one thread (the event loop's): the connection is opened there."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / DB_NAME
        self._db: sqlite3.Connection | None = None
        self._broken = False

    def current(self) -> int | None:
        """A value that differs after any commit by any other connection; None when it
        cannot be read right now (never waits: a busy database answers None)."""
        if self._broken:
            return None
        try:
            if self._db is None:
                if not self._path.exists():
                    return None
                self._db = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            row = self._db.execute("PRAGMA data_version").fetchone()
        except sqlite3.ProgrammingError:  # another thread: a caller's mistake, stay off
            self._broken = True
            return None
        except sqlite3.Error:
            return None
        return int(row[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
