"""The POP3 maildrop: a user's INBOX as of login, locked for the session (RFC 1939).

- The lock is an flock on `<data dir>/run/pop3-locks/<sha256 of the address>`, held through
  the session's own open file: it excludes other sessions of this process and of the other
  worker processes alike, and the kernel drops it when the process dies.
- The maildrop is the INBOX at login, numbered by uid; UIDL is "<uidvalidity>.<uid>".
  Sessions of other protocols may change INBOX meanwhile: RETR of a message they expunged
  finds it among the uids vanished since login and gets None.
- Only QUIT changes the INBOX: messages marked deleted get \\Deleted and are expunged;
  messages retrieved with RETR (not TOP: a peek) and kept get \\Seen. A session that ends in
  any other way changes nothing.

Store calls run on StoreThreads, never on the event loop.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postoffice.server.store_threads import StoreThreads
from postoffice.storage.blobs import BlobLocation, read_if_cached
from postoffice.storage.interfaces import NotFound, Store, User
from postoffice.storage.mailboxes import MessageRow

SEEN = "\\Seen"
DELETED = "\\Deleted"


def lock_dir(data_dir: Path) -> Path:
    return data_dir / "run" / "pop3-locks"


class MaildropLock:
    """An exclusive flock on one address's lock file, until release()."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path, address: str) -> MaildropLock | None:
        """The lock, or None when another session holds it."""
        directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(address.encode("utf-8")).hexdigest()
        fd = os.open(directory / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    __del__ = release  # a session cancelled while its maildrop was opening


@dataclass
class Inbox:
    """One session's locked maildrop: the INBOX rows at login, message n is rows[n - 1]."""

    address: str
    folder_id: int
    uidvalidity: int
    modseq: int
    """The INBOX's highest modseq at login: later expunges are found after it."""
    rows: list[MessageRow]
    lock: MaildropLock
    locations: dict[str, BlobLocation] = field(default_factory=dict)
    """Where the packed messages are (read on the event loop when the page cache has them)."""
    retrieved: set[int] = field(default_factory=set)
    """Message numbers sent by RETR: they get \\Seen at QUIT."""
    version: int | None = None
    """The database's change counter before the INBOX was read (see Maildrops.read)."""

    def listing(self) -> list[tuple[int, str]]:
        """(size, unique id) per message, for the core."""
        return [(row.size, f"{self.uidvalidity}.{row.uid}") for row in self.rows]

    def uids(self, numbers: Sequence[int]) -> list[int]:
        return [self.rows[n - 1].uid for n in numbers]


class Maildrops:
    """POP3's access to the mailbox store and the maildrop locks."""

    def __init__(self, threads: StoreThreads, locks: Path,
                 changes: Callable[[], int | None] | None = None) -> None:
        """`changes`: the database's change counter (storage/sqlite/changes.py), read on
        the event loop; while it stays, nothing was expunged since login."""
        self.threads = threads
        self.locks = locks
        self.changes = changes

    async def find_user(self, login: str) -> User | None:
        return await self.threads.run(_find_user, login)

    async def open(self, address: str) -> Inbox | None:
        """Lock and read the INBOX of `address`; None when another session holds it."""
        version = self.changes() if self.changes is not None else None
        inbox = await self.threads.run(_open_inbox, self.locks, address)
        if inbox is not None:
            inbox.version = version
        return inbox

    async def read(self, inbox: Inbox, number: int) -> bytes | None:
        """Message `number` as stored; None when it was expunged since login."""
        row = inbox.rows[number - 1]
        if inbox.version is not None and self.changes is not None \
                and self.changes() == inbox.version:  # no commit anywhere since login
            location = inbox.locations.get(row.blob)
            data = None if location is None else read_if_cached(location)
            return data if data is not None else await self.threads.run(_read_blob, row)
        return await self.threads.run(_read, inbox.folder_id, inbox.modseq, row)

    async def update(self, inbox: Inbox, deleted: Sequence[int]) -> None:
        """The UPDATE state: expunge `deleted` (message numbers), mark the retrieved seen."""
        seen = sorted(inbox.retrieved.difference(deleted))
        await self.threads.run(_update, inbox.folder_id, inbox.uids(deleted), inbox.uids(seen))


# -- on a store thread --------------------------------------------------------------------

def _find_user(store: Store, login: str) -> User | None:
    return store.get_user(login)


def _open_inbox(store: Store, locks: Path, address: str) -> Inbox | None:
    lock = MaildropLock.acquire(locks, address)
    if lock is None:
        return None
    try:
        folder = store.get_folder(address, "INBOX")
        if folder is None:
            raise NotFound(f"{address} has no INBOX")
        rows = store.folder_messages(folder.id)
        return Inbox(address, folder.id, folder.uidvalidity, folder.highestmodseq, rows, lock,
                     store.blob_locations([row.blob for row in rows]))
    except BaseException:
        lock.release()
        raise


def _read(store: Store, folder_id: int, modseq: int, row: MessageRow) -> bytes | None:
    try:
        if row.uid in store.folder_changes(folder_id, modseq).vanished:
            return None
        return store.blobs.read(row.blob)
    except NotFound:
        return None


def _read_blob(store: Store, row: MessageRow) -> bytes | None:
    try:
        return store.blobs.read(row.blob)
    except NotFound:
        return None


def _update(store: Store, folder_id: int, deleted: list[int], seen: list[int]) -> None:
    if seen:
        store.store_flags(folder_id, seen, "add", [SEEN])
    if deleted:
        store.store_flags(folder_id, deleted, "add", [DELETED])
        store.expunge(folder_id, deleted)  # those expunged by others meanwhile are gone
