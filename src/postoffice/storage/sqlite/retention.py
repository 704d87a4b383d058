"""Retention in SQL: the Store's RetentionStore method (a mixin of SqliteStore).

Rows go in batches, each its own short write transaction, so the MX (and every other writer)
waits for one batch at most: candidates are read first without the writer lock, then checked
again and deleted inside the transaction. Messages are paged through in (received_at, id)
order, so old messages that must stay (still queued, deferred, held, or owing a DSN) are
looked at once per run, not once per batch. Then storage/sqlite/blob_gc.py collects the blobs
nothing references any more."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Final

from postoffice.storage.blobs import FileBlobStore
from postoffice.storage.retention import ANSWER_TTL, SOFT_BOUNCE_MEMORY, PurgeReport
from postoffice.storage.sqlite.blob_gc import BlobCollector

GC_LOCK: Final = "postoffice.db.gc-lock"
"""flock()ed by a collection: a purge from the command line and the server's job take turns."""
DAY: Final = 86400.0

_UNFINISHED: Final = (
    "EXISTS (SELECT 1 FROM queue WHERE message_id = {column}"
    " AND (status NOT IN ('delivered', 'failed') OR dsn_pending != 0))"
)
"""SQL: the message still has a recipient to deliver to (or a DSN to send about)."""
_FINISHED_OF: Final = (
    f"SELECT value FROM json_each(?) WHERE NOT {_UNFINISHED.format(column='value')}"
)


def _expiring(now: float) -> tuple[tuple[str, str, str, float], ...]:
    """(table, primary key, condition, its time) of the rows whose time is up."""
    return (("suppressions", "id", "expires_at IS NOT NULL AND expires_at <= ?", now),
            ("vacation_replies", "user_id, handle, sender", "expires_at <= ?", now),
            ("soft_bounces", "tenant, address", "last_at < ?", now - SOFT_BOUNCE_MEMORY))


def _never() -> bool:
    return False


class RetentionMethods:
    _stop_purge: Callable[[], bool]
    """The running purge's `stop` (set by `purge`): true when it should end after the current
    batch."""
    _db: sqlite3.Connection
    _transaction: Callable[[], AbstractContextManager[None]]
    _reading: Callable[[], AbstractContextManager[None]]
    files: FileBlobStore
    data_dir: Path

    def purge(self, now: float, batch: int = 5000, *, dry_run: bool = False,
              stop: Callable[[], bool] = _never) -> PurgeReport:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self._stop_purge = stop
        events = messages = queue_items = 0
        with self._reading():
            tenants = self._db.execute(
                "SELECT name, retention_days FROM tenants ORDER BY name").fetchall()
        for tenant, days in tenants:
            cutoff = now - days * DAY
            events += self._purge_events(tenant, cutoff, batch, dry_run)
            gone, items = self._purge_messages(tenant, cutoff, batch, dry_run)
            messages += gone
            queue_items += items
        answers = self._purge_answers(now - ANSWER_TTL, batch, dry_run)
        expired = sum(self._purge_rows(table, key, condition, (time,), batch, dry_run)
                      for table, key, condition, time in _expiring(now))
        with self._gc_lock(dry_run), self._reading():
            tally = BlobCollector(self._db, self._transaction, self.files, now, batch,
                                  dry_run, stop).run()
        return PurgeReport(
            dry_run=dry_run, events=events, messages=messages, queue_items=queue_items,
            answers=answers, expired=expired, summaries=tally.summaries, blobs=tally.blobs,
            large_files=tally.large_files, packs_compacted=tally.packs_compacted,
            packs_dropped=tally.packs_dropped, orphan_packs=tally.orphan_packs,
            bytes_freed=tally.bytes_freed)

    def _purge_events(self, tenant: str, cutoff: float, batch: int, dry_run: bool) -> int:
        if dry_run:
            with self._reading():
                (count,) = self._db.execute("SELECT COUNT(*) FROM events WHERE tenant = ?"
                                            " AND at < ?", (tenant, cutoff)).fetchone()
            return int(count)
        total = 0
        while not self._stop_purge():
            with self._transaction():
                count = self._db.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE tenant = ?"
                    " AND at < ? LIMIT ?)", (tenant, cutoff, batch)).rowcount
            total += count
            if count < batch:
                break
        return total

    def _purge_messages(self, tenant: str, cutoff: float, batch: int,
                        dry_run: bool) -> tuple[int, int]:
        messages = queue_items = 0
        after: tuple[float, str] = (float("-inf"), "")
        while not self._stop_purge():
            with self._reading():
                rows = self._db.execute(
                    "SELECT received_at, id FROM messages WHERE tenant = ? AND received_at < ?"
                    " AND (received_at, id) > (?, ?) ORDER BY received_at, id LIMIT ?",
                    (tenant, cutoff, *after, batch)).fetchall()
                if not rows:
                    return messages, queue_items
                after = (rows[-1][0], rows[-1][1])
                page = json.dumps([row[1] for row in rows])
                finished = [row[0] for row in self._db.execute(_FINISHED_OF, (page,))]
            if finished and dry_run:
                with self._reading():
                    (items,) = self._db.execute(
                        "SELECT COUNT(*) FROM queue WHERE message_id IN"
                        " (SELECT value FROM json_each(?))", (json.dumps(finished),)).fetchone()
                messages += len(finished)
                queue_items += int(items)
            elif finished:
                gone, items = self._delete_messages(json.dumps(finished))
                messages += gone
                queue_items += items
            if len(rows) < batch:
                break
        return messages, queue_items

    def _delete_messages(self, candidates: str) -> tuple[int, int]:
        """Delete the candidates (a JSON list of ids) still finished now, with their queue
        rows; (messages, queue rows) deleted."""
        with self._transaction():
            ids = json.dumps([row[0] for row in self._db.execute(_FINISHED_OF, (candidates,))])
            items = self._db.execute("DELETE FROM queue WHERE message_id IN"
                                     " (SELECT value FROM json_each(?))", (ids,)).rowcount
            gone = self._db.execute("DELETE FROM messages WHERE id IN"
                                    " (SELECT value FROM json_each(?))", (ids,)).rowcount
        return gone, items

    def _purge_answers(self, before: float, batch: int, dry_run: bool) -> int:
        return self._purge_rows("idempotency", "tenant, key", "created_at < ?", (before,),
                                batch, dry_run)

    def _purge_rows(self, table: str, key: str, condition: str, values: tuple[float, ...],
                    batch: int, dry_run: bool) -> int:
        """Delete the rows of `table` (primary key `key`) meeting `condition`, a batch per
        transaction."""
        if dry_run:
            with self._reading():
                (count,) = self._db.execute(f"SELECT COUNT(*) FROM {table} WHERE {condition}",
                                            values).fetchone()
            return int(count)
        total = 0
        while not self._stop_purge():
            with self._transaction():
                count = self._db.execute(
                    f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table}"
                    f" WHERE {condition} LIMIT ?)", (*values, batch)).rowcount
            total += count
            if count < batch:
                break
        return total

    @contextmanager
    def _gc_lock(self, dry_run: bool) -> Iterator[None]:
        if dry_run:
            yield
            return
        fd = os.open(self.data_dir / GC_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
