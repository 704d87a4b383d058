"""The embedded backend: SQLite in WAL mode plus content-addressed files."""

from postoffice.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
