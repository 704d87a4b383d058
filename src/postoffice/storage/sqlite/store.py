"""SqliteStore: the embedded Store, SQLite (WAL) for metadata plus FileBlobStore for content.

Layout of the data directory: postoffice.db (+ -wal, -shm), blobs/, spool/tmp/.

One instance per thread (SQLite connections are per thread); several instances and several
processes may share one data directory: writers serialise on `BEGIN IMMEDIATE` (waiting up to
the 30 s busy timeout), readers never block in WAL mode.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Final

from postoffice.storage import addresses, ids
from postoffice.storage.blobs import BlobLocation, FileBlobStore, PackEntry
from postoffice.storage.interfaces import (
    Acceptance,
    Alias,
    AlreadyExists,
    BlobStore,
    DeliveryOutcome,
    Domain,
    Folder,
    GreylistEntry,
    GreylistNetwork,
    InUse,
    MailboxEntry,
    NotFound,
    PendingBlob,
    QueueBacklog,
    QueueFilter,
    QueueItem,
    QueueKey,
    StorageError,
    StoredMessage,
    User,
)
from postoffice.storage.mailboxes import (
    FlagMode,
    FlagUpdate,
    FolderChanges,
    FolderIndex,
    FolderStatus,
    MessageRow,
    NewMessage,
    Quota,
    SieveScript,
    Summary,
)
from postoffice.storage.sqlite import aliases, greylist, mailboxes, queue, scripts, vacation
from postoffice.storage.sqlite import migrate as migrations
from postoffice.storage.sqlite.accept import plan_acceptances, write_acceptances
from postoffice.storage.sqlite.bulk import Statement, insert_rows
from postoffice.storage.sqlite.events import EventMethods
from postoffice.storage.sqlite.retention import RetentionMethods
from postoffice.storage.sqlite.stats import StatsMethods
from postoffice.storage.sqlite.suppressions import SuppressionMethods
from postoffice.storage.sqlite.templates import TemplateMethods
from postoffice.storage.sqlite.tenants import TenantMethods
from postoffice.storage.sqlite.webhooks import WebhookMethods
from postoffice.storage.suppressions import Bounce, SoftBounceRule, Suppression

DB_NAME: Final = "postoffice.db"
PACK_COLUMNS: Final = ("digest", "pack", "offset", "size")
PACKED: Final = ("ON CONFLICT (digest) DO UPDATE SET pack = excluded.pack,"
                 " offset = excluded.offset, size = excluded.size WHERE blob_packs.pack = ''")
"""Where a blob was packed; a blob known only by its reference count (pack '', a file of its
own, or a row the collector has not removed yet) takes the pack's place."""
BUSY_TIMEOUT: Final = 30.0
FSYNC_THREADS: Final = 16

DEFAULT_FOLDERS: Final[tuple[tuple[str, str | None], ...]] = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
    ("Archive", "\\Archive"),
)
"""Folders every new user gets, with their RFC 6154 special-use attribute."""

_MESSAGE_COLUMNS: Final = (
    "id, blob, size, received_at, source, mail_from, client_ip, helo, auth_identity, body,"
    " smtputf8, ret, envid, category, unsubscribe, track_opens, track_clicks"
)
_ENTRY_COLUMNS: Final = "uid, message_id, blob, size, flags, internal_date"


AUTOCHECKPOINT_PAGES: Final = 1000
"""SQLite's own default: a commit that takes the log past this many pages checkpoints."""
_autocheckpoint = AUTOCHECKPOINT_PAGES


def autocheckpoint_pages(pages: int) -> None:
    """The `wal_autocheckpoint` of this process's connections opened from now on (raised
    where a checkpointer thread does the work: sqlite/checkpoint.py)."""
    global _autocheckpoint
    _autocheckpoint = pages


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with our pragmas."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA wal_autocheckpoint = {_autocheckpoint}")
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteStore(TenantMethods, EventMethods, WebhookMethods, SuppressionMethods, StatsMethods,
                  TemplateMethods, RetentionMethods):
    """Implements storage.interfaces.Store."""

    def __init__(self, data_dir: Path, *, clock: Callable[[], float] = time.time,
                 urgent: bool = False) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._clock = clock
        self.files = FileBlobStore(data_dir, locator=self._locate_blob)
        self.blobs: BlobStore = self.files
        try:
            self._db = connect(data_dir / DB_NAME)
        except sqlite3.Error as exc:
            self.files.close()
            raise StorageError(f"cannot open {data_dir / DB_NAME}: {exc}") from exc
        self._pool: ThreadPoolExecutor | None = None
        self._lock_path = data_dir / (DB_NAME + ".writer-lock")
        self._lock_fd: int | None = None
        self._urgent = urgent
        self._turn_path = data_dir / (DB_NAME + ".writer-turn")
        self._turn_fd: int | None = None
        self._closed = False

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # schema

    def migrate(self) -> list[int]:
        with _errors():
            return migrations.migrate(self._db, self._clock())

    def schema_version(self) -> int:
        with _errors():
            return migrations.current_version(self._db)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown()
        self._db.close()
        self.files.close()
        for fd in (self._lock_fd, self._turn_fd):
            if fd is not None:
                os.close(fd)
        self._lock_fd = self._turn_fd = None

    # the durable hot path

    def accept(self, batch: Sequence[tuple[PendingBlob, Acceptance]]) -> None:
        if not batch:
            return
        for pending, acceptance in batch:
            if (pending.digest, pending.size) != (acceptance.message.blob, acceptance.message.size):
                raise ValueError(f"message {acceptance.message.id} does not match its blob")
        if self._pool is None and (len(batch) > 1 or self._urgent):
            self._pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="postoffice-fsync")
        acceptances = [acceptance for _, acceptance in batch]
        planned = plan_acceptances(acceptances)
        pendings = [pending for pending, _ in batch]
        if self._urgent and self._pool is not None:
            # A single send's files are synced while it waits for the writer lock: it then
            # holds the lock until they are (a few milliseconds), which only urgent writers
            # do; the others sync first, so their time under the lock stays short.
            syncing = self._pool.submit(self.files.make_durable, pendings, None)
            with self._transaction():
                self._record(batch, planned, syncing.result())
            return
        packed = self.files.make_durable(pendings, self._pool)
        with self._transaction():
            self._record(batch, planned, packed)

    def _record(self, batch: Sequence[tuple[PendingBlob, Acceptance]],
                planned: list[Statement], packed: list[PackEntry]) -> None:
        """The rows of an accepted batch whose files are durable (in a transaction)."""
        self.files.check_durable([pending.digest for pending, _ in batch], packed)
        # Pack entries are encoded here and every other row before the writer lock was
        # taken: under it, SQLite works and Python waits.
        insert_rows(self._db, "blob_packs", PACK_COLUMNS,
                    [(e.digest, e.pack, e.offset, e.size) for e in packed], upsert=PACKED)
        write_acceptances(self._db, planned, [a for _, a in batch], self._next_uidvalidity)

    def _locate_blob(self, digest: str) -> PackEntry | None:
        row = self._db.execute(
            "SELECT pack, offset, size FROM blob_packs WHERE digest = ? AND pack != ''",
            (digest,)
        ).fetchone()
        return None if row is None else PackEntry(digest, row[0], row[1], row[2])

    # domains

    def add_domain(self, name: str, tenant: str = "default") -> Domain:
        domain = Domain(addresses.normalize_domain(name), self._clock(), tenant)
        try:
            with self._transaction():
                if self._db.execute("SELECT 1 FROM tenants WHERE name = ?",
                                    (tenant,)).fetchone() is None:
                    raise NotFound(f"no tenant {tenant}")
                self._db.execute(
                    "INSERT INTO domains (name, created_at, tenant) VALUES (?, ?, ?)",
                    (domain.name, domain.created_at, tenant),
                )
        except AlreadyExists:
            raise AlreadyExists(f"domain {domain.name} exists already") from None
        return domain

    def remove_domain(self, name: str) -> None:
        name = addresses.normalize_domain(name)
        with self._transaction():
            row = self._db.execute(
                "SELECT d.id, (SELECT COUNT(*) FROM users WHERE domain_id = d.id)"
                " FROM domains d WHERE d.name = ?",
                (name,),
            ).fetchone()
            if row is None:
                raise NotFound(f"no domain {name}")
            if row[1]:
                raise InUse(f"domain {name} still has {row[1]} user(s); remove them first")
            if aliases.listed(self._db, name):
                raise InUse(f"domain {name} still has aliases; remove them first")
            self._db.execute("DELETE FROM domains WHERE id = ?", (row[0],))

    def list_domains(self) -> list[Domain]:
        with _errors():
            rows = self._db.execute("SELECT name, created_at, tenant FROM domains ORDER BY name")
            return [Domain(*row) for row in rows]

    def is_local_domain(self, name: str) -> bool:
        try:
            name = addresses.normalize_domain(name)
        except ValueError:
            return False
        with _errors():
            return (
                self._db.execute("SELECT 1 FROM domains WHERE name = ?", (name,)).fetchone()
                is not None
            )

    # users

    def add_user(
        self, address: str, password_hash: str, allowed_senders: Sequence[str] = ()
    ) -> User:
        user = User(
            addresses.normalize_address(address),
            password_hash,
            tuple(dict.fromkeys(map(addresses.normalize_sender, allowed_senders))),
            self._clock(),
        )
        domain = addresses.domain_of(user.address)
        try:
            return self._insert_user(user, domain)
        except AlreadyExists:
            raise AlreadyExists(f"user {user.address} exists already") from None

    def _insert_user(self, user: User, domain: str) -> User:
        with self._transaction():
            row = self._db.execute("SELECT id FROM domains WHERE name = ?", (domain,)).fetchone()
            if row is None:
                raise NotFound(f"{domain} is not a local domain; add it first")
            if aliases.get(self._db, user.address) is not None:
                raise AlreadyExists(f"{user.address} is an alias; remove it first")
            user_id = self._db.execute(
                "INSERT INTO users (address, domain_id, password_hash, allowed_senders, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (
                    user.address,
                    row[0],
                    user.password_hash,
                    json.dumps(user.allowed_senders),
                    user.created_at,
                ),
            ).fetchall()[0][0]
            uidvalidity = self._next_uidvalidity()
            self._db.executemany(
                "INSERT INTO folders (user_id, name, uidvalidity, special_use) VALUES (?, ?, ?, ?)",
                [(user_id, name, uidvalidity, use) for name, use in DEFAULT_FOLDERS],
            )
            self._db.executemany(
                "INSERT INTO subscriptions (user_id, name) VALUES (?, ?)",
                [(user_id, name) for name, _ in DEFAULT_FOLDERS],
            )
        return user

    def _next_uidvalidity(self) -> int:
        """Seconds since the epoch, but always above any value handed out before, so a folder
        deleted and created again (same name) never repeats a UIDVALIDITY."""
        row = self._db.execute("SELECT value FROM counters WHERE name = 'uidvalidity'").fetchone()
        value = max(int(self._clock()), row[0] + 1 if row else 1) & 0xFFFFFFFF or 1
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('uidvalidity', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (value,),
        )
        return value

    def remove_user(self, address: str) -> None:
        address = addresses.normalize_address(address)
        with self._transaction():
            if self._db.execute("DELETE FROM users WHERE address = ?", (address,)).rowcount == 0:
                raise NotFound(f"no user {address}")

    def get_user(self, address: str) -> User | None:
        try:
            address = addresses.normalize_address(address)
        except ValueError:
            return None
        with _errors():
            row = self._db.execute(
                "SELECT address, password_hash, allowed_senders, created_at FROM users"
                " WHERE address = ?",
                (address,),
            ).fetchone()
        return None if row is None else _user(row)

    def list_users(self, domain: str | None = None) -> list[User]:
        sql = "SELECT u.address, u.password_hash, u.allowed_senders, u.created_at FROM users u"
        params: tuple[str, ...] = ()
        if domain is not None:
            sql += " JOIN domains d ON d.id = u.domain_id WHERE d.name = ?"
            params = (addresses.normalize_domain(domain),)
        with _errors():
            return [_user(row) for row in self._db.execute(sql + " ORDER BY u.address", params)]

    def set_password(self, address: str, password_hash: str) -> None:
        self._update_user(address, "password_hash", password_hash)

    def set_allowed_senders(self, address: str, allowed: Sequence[str]) -> None:
        entries = tuple(dict.fromkeys(map(addresses.normalize_sender, allowed)))
        self._update_user(address, "allowed_senders", json.dumps(entries))

    def _update_user(self, address: str, column: str, value: str) -> None:
        address = addresses.normalize_address(address)
        with self._transaction():
            cursor = self._db.execute(
                f"UPDATE users SET {column} = ? WHERE address = ?", (value, address)
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no user {address}")

    # aliases

    def add_alias(self, address: str, targets: Sequence[str]) -> Alias:
        normalized = tuple(dict.fromkeys(map(addresses.normalize_address, targets)))
        if not normalized:
            raise ValueError("an alias needs at least one target")
        alias = Alias(addresses.normalize_address(address), normalized, self._clock())
        with self._transaction():
            aliases.add(self._db, alias)
        return alias

    def remove_alias(self, address: str) -> None:
        with self._transaction():
            aliases.remove(self._db, addresses.normalize_address(address))

    def get_alias(self, address: str) -> Alias | None:
        try:
            address = addresses.normalize_address(address)
        except ValueError:
            return None
        with _errors():
            return aliases.get(self._db, address)

    def list_aliases(self, domain: str | None = None) -> list[Alias]:
        with _errors():
            return aliases.listed(self._db, None if domain is None else addresses.normalize_domain(domain))

    # messages and queue

    def get_message(self, message_id: str) -> StoredMessage | None:
        with _errors():
            row = self._db.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        if row is None:
            return None
        mid, blob, size, received_at, source, mail_from, client_ip, helo, auth, *rest = row
        body, smtputf8, ret, envid, category, unsubscribe, track_opens, track_clicks = rest
        return StoredMessage(
            mid,
            blob,
            size,
            received_at,
            source,
            mail_from,
            client_ip,
            helo,
            auth,
            body=body,
            smtputf8=bool(smtputf8),
            ret=ret,
            envid=envid,
            category=category,
            unsubscribe=bool(unsubscribe),
            track_opens=bool(track_opens),
            track_clicks=bool(track_clicks),
        )

    def list_queue(
        self,
        status: str | None = None,
        limit: int = 1000,
        *,
        where: QueueFilter | None = None,
        after_id: int = 0,
    ) -> list[QueueItem]:
        if status is not None:
            where = dataclasses.replace(where or QueueFilter(), status=status)
        with _errors():
            return queue.list_items(self._db, where, limit, after_id)

    def get_queue_item(self, item_id: int) -> QueueItem | None:
        items = self.list_queue(where=QueueFilter(ids=(item_id,)), limit=1)
        return items[0] if items else None

    # the delivery engine

    def queue_backlog(self, now: float) -> list[QueueBacklog]:
        with _errors():
            return queue.backlog(self._db, now)

    def claim(
        self, key: QueueKey, *, now: float, limit: int, lease: float, owner: str
    ) -> list[QueueItem]:
        with self._transaction():
            return queue.claim(self._db, key, now, limit, lease, owner)

    def complete(self, outcomes: Sequence[DeliveryOutcome], bounces: Sequence[Bounce] = (),
                 rule: SoftBounceRule | None = None) -> list[Suppression]:
        with self._transaction():
            queue.complete(self._db, outcomes)
            return self._bounces(bounces, rule or SoftBounceRule()) if bounces else []

    def release_leases(self, owner: str) -> int:
        with self._transaction():
            return queue.release_leases(self._db, owner)

    def postpone(self, item_ids: Sequence[int], at: float) -> None:
        with self._transaction():
            queue.postpone(self._db, item_ids, at)

    def lease_owners(self) -> list[str]:
        with _errors():
            return queue.lease_owners(self._db)

    def owed_failure_notices(self, limit: int = 100) -> list[QueueItem]:
        with _errors():
            return queue.owed_failure_notices(self._db, limit)

    def owed_delay_notices(self, created_before: float, limit: int = 100) -> list[QueueItem]:
        with _errors():
            return queue.owed_delay_notices(self._db, created_before, limit)

    def clear_failure_notice(self, item_ids: Sequence[int]) -> None:
        with self._transaction():
            queue.set_flag(self._db, "dsn_pending", 0, item_ids)

    def mark_delay_notified(self, item_ids: Sequence[int]) -> None:
        with self._transaction():
            queue.set_flag(self._db, "delay_notified", 1, item_ids)

    def hold(self, where: QueueFilter) -> int:
        with self._transaction():
            return queue.hold(self._db, where)

    def release(self, where: QueueFilter, now: float) -> int:
        with self._transaction():
            return queue.release(self._db, where, now)

    def retry_now(self, where: QueueFilter, now: float) -> int:
        with self._transaction():
            return queue.retry_now(self._db, where, now)

    def bounce(self, where: QueueFilter, now: float, reason: str) -> int:
        with self._transaction():
            return queue.bounce(self._db, where, now, reason)

    def delete(self, where: QueueFilter) -> int:
        with self._transaction():
            return queue.delete(self._db, where)

    # greylisting

    def get_greylist(self, network: str, sender: str, recipient: str) -> GreylistEntry | None:
        with _errors():
            return greylist.get(self._db, network, sender, recipient)

    def put_greylist(self, entry: GreylistEntry) -> None:
        with self._transaction():
            greylist.put(self._db, entry)

    def get_greylist_network(self, network: str) -> GreylistNetwork | None:
        with _errors():
            return greylist.get_network(self._db, network)

    def put_greylist_network(self, entry: GreylistNetwork) -> None:
        with self._transaction():
            greylist.put_network(self._db, entry)

    def delete_expired_greylist(self, now: float) -> int:
        with self._transaction():
            return greylist.delete_expired(self._db, now)

    # mailboxes

    def list_folders(self, address: str) -> list[Folder]:
        user_id = self._user_id(address)
        with _errors():
            return mailboxes.list_folders(self._db, user_id)

    def get_folder(self, address: str, name: str) -> Folder | None:
        user_id = self._user_id(address)
        try:
            name = mailboxes.check_name(name)
        except ValueError:
            return None
        with _errors():
            return mailboxes.get_folder(self._db, user_id, name)

    def create_folder(self, address: str, name: str, special_use: str | None = None) -> Folder:
        user_id = self._user_id(address)
        with self._transaction():
            return mailboxes.create_folder(self._db, user_id, name, special_use,
                                           self._next_uidvalidity)

    def delete_folder(self, address: str, name: str) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            mailboxes.delete_folder(self._db, user_id, name)

    def rename_folder(self, address: str, old: str, new: str) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            mailboxes.rename_folder(self._db, user_id, old, new, self._next_uidvalidity)

    def subscriptions(self, address: str) -> list[str]:
        user_id = self._user_id(address)
        with _errors():
            return mailboxes.subscriptions(self._db, user_id)

    def set_subscribed(self, address: str, name: str, subscribed: bool) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            mailboxes.set_subscribed(self._db, user_id, name, subscribed)

    def folder_status(self, folder_id: int) -> FolderStatus:
        with _errors():
            return mailboxes.folder_status(self._db, folder_id)

    def folder_messages(self, folder_id: int) -> list[MessageRow]:
        with _errors():
            return mailboxes.folder_messages(self._db, folder_id)

    def folder_index(self, folder_id: int) -> FolderIndex:
        with _errors(), self._snapshot():
            return mailboxes.folder_index(self._db, folder_id)

    def messages_by_uid(self, folder_id: int, uids: Sequence[int]) -> list[MessageRow]:
        with _errors():
            return mailboxes.messages_by_uid(self._db, folder_id, uids)

    def folder_changes(self, folder_id: int, since_modseq: int) -> FolderChanges:
        with _errors(), self._snapshot():
            return mailboxes.folder_changes(self._db, folder_id, since_modseq)

    def large_folders(self, min_uidnext: int) -> list[int]:
        with _errors():
            rows = self._db.execute("SELECT id FROM folders WHERE uidnext > ? AND selectable = 1"
                                    " ORDER BY uidnext DESC", (min_uidnext,)).fetchall()
        return [int(row[0]) for row in rows]

    def folder_heads(self, folder_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        with _errors():
            return mailboxes.folder_heads(self._db, folder_ids)

    def claim_recent(self, folder_id: int, claim: bool = True) -> tuple[int, int]:
        with self._transaction():
            return mailboxes.claim_recent(self._db, folder_id, claim)

    def append_messages(self, address: str, folder: str,
                        messages: Sequence[NewMessage]) -> tuple[Folder, list[int]]:
        user_id = self._user_id(address)
        name = mailboxes.check_name(folder)
        if self._pool is None and len(messages) > 1:
            self._pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="postoffice-fsync")
        packed = self.files.make_durable([m.blob for m in messages], self._pool)
        now = self._clock()
        with self._transaction():
            found = mailboxes.get_folder(self._db, user_id, name)
            if found is None or not found.selectable:
                raise NotFound(f"no folder {folder}")
            self.files.check_durable([m.blob.digest for m in messages], packed)
            insert_rows(self._db, "blob_packs", PACK_COLUMNS,
                        [(e.digest, e.pack, e.offset, e.size) for e in packed],
                        upsert=PACKED)
            uids = mailboxes.insert_rows(self._db, user_id, found.id, [
                (m.message_id or ids.new_message_id(now), m.blob.digest, m.blob.size, m.flags,
                 m.internal_date or now) for m in messages])
            return mailboxes.folder_by_id(self._db, found.id), uids

    def store_flags(self, folder_id: int, uids: Sequence[int], mode: FlagMode,
                    flags: Sequence[str], unchanged_since: int | None = None) -> FlagUpdate:
        with self._transaction():
            return mailboxes.store_flags(self._db, folder_id, uids, mode, flags,
                                         unchanged_since)

    def copy_messages(self, folder_id: int, uids: Sequence[int], target_id: int, *,
                      move: bool = False) -> tuple[Folder, list[tuple[int, int]]]:
        with self._transaction():
            if (mailboxes.user_of_folder(self._db, folder_id)
                    != mailboxes.user_of_folder(self._db, target_id)):
                raise NotFound("no such folder")
            if not mailboxes.folder_by_id(self._db, target_id).selectable:
                raise NotFound("the target folder cannot hold messages")
            pairs = (mailboxes.move_rows if move else mailboxes.copy_rows)(
                self._db, folder_id, uids, target_id)
            return mailboxes.folder_by_id(self._db, target_id), pairs

    def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        with self._transaction():
            return mailboxes.expunge(self._db, folder_id, uids)

    def quota(self, address: str) -> Quota:
        user_id = self._user_id(address)
        with _errors():
            used, limit = self._db.execute(
                "SELECT used_bytes, quota_bytes FROM users WHERE id = ?", (user_id,)).fetchone()
        return Quota(used, limit)

    def set_quota(self, address: str, limit: int | None) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            self._db.execute("UPDATE users SET quota_bytes = ? WHERE id = ?", (limit, user_id))

    def get_summaries(self, blobs: Sequence[str]) -> dict[str, Summary]:
        found: dict[str, Summary] = {}
        with _errors():
            for chunk, marks in mailboxes.in_chunks(blobs):
                for row in self._db.execute(
                        "SELECT blob, header, envelope, body, bodystructure, fields"
                        f" FROM message_summaries WHERE blob IN ({marks})", chunk):
                    found[row[0]] = Summary(*row)
        return found

    def blob_locations(self, blobs: Sequence[str]) -> dict[str, BlobLocation]:
        found: dict[str, BlobLocation] = {}
        packs = self.files.packs
        with _errors():
            for chunk, marks in mailboxes.in_chunks(blobs):
                for digest, pack, offset, size in self._db.execute(
                        "SELECT digest, pack, offset, size FROM blob_packs"
                        f" WHERE digest IN ({marks}) AND pack != ''", chunk):
                    found[digest] = BlobLocation(packs / pack, offset, size)
        return found

    def put_summaries(self, summaries: Sequence[Summary]) -> None:
        if not summaries:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO message_summaries (blob, header, envelope, body,"
                " bodystructure, fields) VALUES (?,?,?,?,?,?)",
                [(s.blob, s.header, s.envelope, s.body, s.bodystructure, s.fields)
                 for s in summaries])

    # sieve scripts

    def list_sieve_scripts(self, address: str) -> list[SieveScript]:
        user_id = self._user_id(address)
        with _errors():
            return scripts.list_scripts(self._db, user_id)

    def get_sieve_script(self, address: str, name: str) -> SieveScript | None:
        user_id = self._user_id(address)
        with _errors():
            return scripts.get_script(self._db, user_id, name)

    def active_sieve_script(self, address: str) -> SieveScript | None:
        user_id = self._user_id(address)
        with _errors():
            return scripts.active_script(self._db, user_id)

    def put_sieve_script(self, address: str, name: str, source: str) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            scripts.put_script(self._db, user_id, name, source, self._clock())

    def delete_sieve_script(self, address: str, name: str) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            scripts.delete_script(self._db, user_id, name)

    def rename_sieve_script(self, address: str, old: str, new: str) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            scripts.rename_script(self._db, user_id, old, new)

    def activate_sieve_script(self, address: str, name: str | None) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            scripts.activate(self._db, user_id, name)

    def record_sieve_error(self, address: str, name: str, error: str | None) -> None:
        user_id = self._user_id(address)
        with self._transaction():
            scripts.record_error(self._db, user_id, name, error)

    def note_vacation_reply(self, address: str, handle: str, sender: str, days: int) -> bool:
        user_id = self._user_id(address)
        with self._transaction():
            return vacation.note_reply(self._db, user_id, handle, sender, self._clock(), days)

    def list_mailbox(self, address: str, folder: str = "INBOX") -> list[MailboxEntry]:
        folder_id = self._folder_id(address, folder)
        with _errors():
            rows = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM mailbox_messages WHERE folder_id = ? ORDER BY uid",
                (folder_id,),
            ).fetchall()
        return [_entry(folder, row) for row in rows]

    def get_mailbox_entry(
        self, address: str, uid: int, folder: str = "INBOX"
    ) -> MailboxEntry | None:
        try:
            folder_id = self._folder_id(address, folder)
        except (NotFound, ValueError):
            return None
        with _errors():
            row = self._db.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM mailbox_messages WHERE folder_id = ? AND uid = ?",
                (folder_id, uid),
            ).fetchone()
        return None if row is None else _entry(folder, row)

    def iter_blob_refs(self) -> Iterator[str]:
        """Digests referenced by message rows and mailbox entries, each once."""
        with _errors():
            cursor = self._db.execute(
                "SELECT blob FROM messages UNION SELECT blob FROM mailbox_messages"
            )
            while rows := cursor.fetchmany(1000):
                for (digest,) in rows:
                    yield digest

    def _user_id(self, address: str) -> int:
        address = addresses.normalize_address(address)
        with _errors():
            row = self._db.execute("SELECT id FROM users WHERE address = ?", (address,)).fetchone()
        if row is None:
            raise NotFound(f"no user {address}")
        return int(row[0])

    def _folder_id(self, address: str, folder: str) -> int:
        user_id = self._user_id(address)
        with _errors():
            row = self._db.execute(
                "SELECT id FROM folders WHERE user_id = ? AND name = ?", (user_id, folder)
            ).fetchone()
        if row is None:
            raise NotFound(f"no folder {folder!r} for {address}")
        return int(row[0])

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """Writers of every process queue on one flock before BEGIN IMMEDIATE: a blocked
        flock wakes the moment the lock is free, where SQLite's busy handler sleeps and
        polls (up to 100 ms per retry), which starves group commits of several workers."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._turn_fd = os.open(self._turn_path, os.O_RDWR | os.O_CREAT, 0o600)
        assert self._turn_fd is not None
        # Urgent writers hold the turn lock shared while they wait and write. The others
        # take it exclusively, for a moment, before they queue and again once they hold the
        # writer lock: when an urgent writer is waiting they give the writer lock up and let
        # it go first. An urgent writer waits for the transaction in progress at most.
        if self._urgent:
            fcntl.flock(self._turn_fd, fcntl.LOCK_SH)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            except BaseException:
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
                raise
        else:
            while True:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                try:
                    fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    continue
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
                break
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            if self._urgent:
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Several reads that must agree (a deferred read transaction)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _reading(self) -> AbstractContextManager[None]:
        """Around reads: sqlite3 errors become StorageError."""
        return _errors()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; sqlite3 errors become
        StorageError (AlreadyExists for a uniqueness violation)."""
        with self._writer_lock(), _errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
            raise AlreadyExists(str(exc)) from exc
        raise StorageError(str(exc)) from exc
    except sqlite3.Error as exc:
        raise StorageError(f"database error: {exc}") from exc


def _user(row: tuple[Any, ...]) -> User:
    address, password_hash, allowed, created_at = row
    return User(address, password_hash, tuple(json.loads(allowed)), created_at)


def _entry(folder: str, row: tuple[Any, ...]) -> MailboxEntry:
    uid, message_id, blob, size, flags, internal_date = row
    return MailboxEntry(folder, uid, message_id, blob, size, tuple(flags.split()), internal_date)
