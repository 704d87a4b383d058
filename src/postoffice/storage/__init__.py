"""Storage: the Protocols callers depend on, and `open_store` for the embedded backend."""

from __future__ import annotations

from pathlib import Path

from postoffice.storage.interfaces import (
    Acceptance,
    Alias,
    AlreadyExists,
    BlobStore,
    BlobWriter,
    Domain,
    Filing,
    Folder,
    InUse,
    MailboxEntry,
    NotFound,
    PendingBlob,
    QueueItem,
    StorageError,
    Store,
    StoredMessage,
    User,
)

__all__ = [
    "Acceptance",
    "Alias",
    "AlreadyExists",
    "BlobStore",
    "BlobWriter",
    "Domain",
    "Filing",
    "Folder",
    "InUse",
    "MailboxEntry",
    "NotFound",
    "PendingBlob",
    "QueueItem",
    "StorageError",
    "Store",
    "StoredMessage",
    "User",
    "open_store",
]


def open_store(data_dir: Path, *, urgent: bool = False) -> Store:
    """The embedded store in `data_dir`: directories created, migrations applied, temporary
    files of dead processes removed. `urgent`: its writes go before those of other stores
    waiting for the writer lock (single sends before bulk)."""
    from postoffice.storage.sqlite import SqliteStore

    store = SqliteStore(data_dir, urgent=urgent)
    try:
        store.migrate()
        store.blobs.clean_temp()
    except BaseException:
        store.close()
        raise
    return store
