"""Blob garbage collection for the embedded store: removes the bodies nothing references.

A blob is live while a message row (`messages.blob`) or a mailbox entry
(`mailbox_messages.blob`) names it; `message_summaries` rows are a cache by blob and go when
nothing names their blob (one removed too early is made again on the next FETCH).

Why a dead blob cannot come back to life under our feet (blobs are content-addressed: a new
message with the same content names the same digest), in each place a blob lives:

- Pack index entries (`blob_packs`) are deleted or re-pointed only inside a write
  transaction that first checks again, under the writer lock, that no row references them.
  An accept always writes its own copy of a small blob into its own new pack and records it
  with `INSERT OR IGNORE` in the transaction that adds its rows: if the collector removed
  the old entry first, the accept's entry goes in (pointing at its new pack); if the accept
  committed first, the collector sees the reference and leaves the pack alone.
- A pack file is unlinked only after the transaction that leaves no entry pointing at it
  has committed (compaction: the new pack is written and fsynced, with its directory, before
  that transaction). A reader that looked the blob up just before opens the old file and,
  finding it gone, looks again (`FileBlobStore`).
- Pack files no entry names (a crash between the steps above, or an accept whose
  transaction failed) are removed only when older than GRACE, and under the writer lock
  after checking once more that no entry names them.
- Large blob files (blobs/<hh>/<sha256>) are unlinked under the writer lock after checking
  again that nothing references them and that the file is older than GRACE. An accept that
  finds the file already there touches it (so it is young again) and, inside its own
  transaction, checks it still exists: a collector that unlinked it in between makes that
  accept fail (the client is told to try again) instead of committing a reference to a
  missing file.

So a collection needs no pause of the MX: it holds the writer lock only for short
transactions (one pack, or a few hundred files)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from postoffice.storage import packs
from postoffice.storage.blobs import FileBlobStore, PackEntry
from postoffice.storage.interfaces import StorageError
from postoffice.storage.retention import COMPACT_BELOW, GRACE

log = logging.getLogger(__name__)

_UNLINKS = 500
"""Large files unlinked per transaction at most."""


def live(column: str) -> str:
    """SQL: whether a message or mailbox entry references the digest in `column` (counted
    in blob_packs.refs by the triggers of migration 0019)."""
    return (f"(COALESCE((SELECT refs FROM blob_packs AS counted"
            f" WHERE counted.digest = {column}), 0) > 0)")


class _Changed(Exception):
    """A pack's entries changed since they were read: it is left for the next run."""


@dataclass
class Tally:
    """What the collector removed so far (mutable while it runs)."""

    summaries: int = 0
    """Summary rows of unreferenced blobs."""
    blobs: int = 0
    """Pack entries and large files removed."""
    large_files: int = 0
    """Large files removed."""
    packs_compacted: int = 0
    """Packs rewritten with their live blobs only."""
    packs_dropped: int = 0
    """Packs removed with nothing live in them."""
    orphan_packs: int = 0
    """Packs no entry named, removed."""
    bytes_freed: int = 0
    """Bytes of files removed, less the bytes of rewritten packs."""


class BlobCollector:
    def __init__(self, db: sqlite3.Connection,
                 transaction: Callable[[], AbstractContextManager[None]],
                 files: FileBlobStore, now: float, batch: int, dry_run: bool,
                 stop: Callable[[], bool] = lambda: False) -> None:
        self._db = db
        self._transaction = transaction
        self._files = files
        self._old = now - GRACE
        """Files modified after this are too young to collect."""
        self._batch = max(1, batch)
        self._dry_run = dry_run
        self._stop = stop
        """True when the collection should end after the current step."""
        self.tally = Tally()

    def run(self) -> Tally:
        for step in (self.summaries, self.packs, self.large_files, self.counts):
            if self._stop():
                break
            step()
        return self.tally

    # summaries

    def summaries(self) -> None:
        last = ""
        while not self._stop():
            rows = self._db.execute("SELECT blob FROM message_summaries WHERE blob > ?"
                                    " ORDER BY blob LIMIT ?", (last, self._batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            page = json.dumps([row[0] for row in rows])
            if self._dry_run:
                (count,) = self._db.execute(
                    f"SELECT COUNT(*) FROM json_each(?) WHERE NOT {live('value')}",
                    (page,)).fetchone()
            else:
                with self._transaction():
                    count = self._db.execute(
                        "DELETE FROM message_summaries WHERE blob IN"
                        f" (SELECT value FROM json_each(?))"
                        f" AND NOT {live('message_summaries.blob')}", (page,)).rowcount
            self.tally.summaries += count

    # packs

    def packs(self) -> None:
        indexed = {row[0]: row[1] for row in self._db.execute(
            "SELECT pack, COUNT(*) FROM blob_packs WHERE pack != '' GROUP BY pack")}
        on_disk = {name: (size, mtime) for name, size, mtime in packs.pack_files(self._files.packs)}
        for name in sorted(indexed):
            if self._stop():
                return
            found = on_disk.get(name)
            if found is None:
                log.warning("pack %s is in the index but not on disk", name)
            elif found[1] <= self._old:
                self._pack(name, found[0])
        for name, (size, mtime) in sorted(on_disk.items()):
            if name not in indexed and mtime <= self._old:
                self._orphan(name, size)
        if not self._dry_run:
            packs.remove_empty_days(self._files.packs)

    def _pack(self, name: str, size: int) -> None:
        entries = self._db.execute(
            "SELECT digest, offset, size, refs > 0 FROM blob_packs WHERE pack = ?"
            " ORDER BY offset", (name,)).fetchall()
        keep = [(digest, offset, length) for digest, offset, length, used in entries if used]
        kept_bytes = sum(length for _, _, length in keep)
        if keep and kept_bytes >= size * COMPACT_BELOW:
            return
        if self._dry_run:
            self._count_pack(bool(keep), len(entries) - len(keep), size - kept_bytes)
            return
        try:
            if keep:
                self._compact(name, keep)
            else:
                self._drop(name)
        except _Changed:
            log.info("pack %s changed while being collected; left for the next run", name)

    def _drop(self, name: str) -> None:
        with self._transaction():
            if self._db.execute("SELECT 1 FROM blob_packs WHERE pack = ? AND refs > 0"
                                " LIMIT 1", (name,)).fetchone():
                raise _Changed
            removed = self._db.execute("DELETE FROM blob_packs WHERE pack = ?",
                                       (name,)).rowcount
        freed = packs.remove(self._files.packs / name)
        self._count_pack(False, removed, freed)

    def _compact(self, name: str, keep: Sequence[tuple[str, int, int]]) -> None:
        try:
            placed = packs.copy_live(self._files.packs, name, keep)
        except StorageError as exc:
            log.error("pack %s not compacted: %s", name, exc)
            return
        new = placed[0].pack
        try:
            removed = self.repoint(name, placed)
        except _Changed:  # rolled back: nothing names the new pack
            packs.remove(self._files.packs / new)
            raise
        # On any other error the commit's outcome may be unknown: the new pack stays, and a
        # later run removes it as an orphan if (checked under the writer lock) nothing names it.
        freed = packs.remove(self._files.packs / name) - sum(e.size for e in placed)
        self._count_pack(True, removed, freed)

    def repoint(self, name: str, placed: Sequence[PackEntry]) -> int:
        """The transaction of a compaction: entries of the copied blobs now point into the
        new pack, the others are deleted; _Changed (nothing done) when a blob that was not
        copied is live again. Returns how many entries were deleted."""
        copied = {entry.digest for entry in placed}
        with self._transaction():
            for digest, used in self._db.execute(
                    "SELECT digest, refs > 0 FROM blob_packs WHERE pack = ?", (name,)):
                if used and digest not in copied:
                    raise _Changed
            self._db.executemany(
                "UPDATE blob_packs SET pack = ?, offset = ? WHERE digest = ? AND pack = ?",
                [(e.pack, e.offset, e.digest, name) for e in placed])
            return self._db.execute("DELETE FROM blob_packs WHERE pack = ?", (name,)).rowcount

    def _orphan(self, name: str, size: int) -> None:
        if self._dry_run:
            self.tally.orphan_packs += 1
            self.tally.bytes_freed += size
            return
        with self._transaction():
            if self._db.execute("SELECT 1 FROM blob_packs WHERE pack = ? LIMIT 1",
                                (name,)).fetchone():
                return
            # Under the writer lock: no accept can commit entries naming it meanwhile.
            freed = packs.remove(self._files.packs / name)
        self.tally.orphan_packs += 1
        self.tally.bytes_freed += freed

    def _count_pack(self, compacted: bool, blobs: int, freed: int) -> None:
        if compacted:
            self.tally.packs_compacted += 1
        else:
            self.tally.packs_dropped += 1
        self.tally.blobs += blobs
        self.tally.bytes_freed += freed

    # counts

    def counts(self) -> None:
        """Rows that only counted references to a blob of its own file, now none: the file
        is gone (or going); a new reference makes the row again."""
        if self._dry_run:
            return
        while not self._stop():
            with self._transaction():
                count = self._db.execute(
                    "DELETE FROM blob_packs WHERE digest IN (SELECT digest FROM blob_packs"
                    " WHERE pack = '' AND refs <= 0 LIMIT ?)", (self._batch,)).rowcount
            if count < self._batch:
                return

    # large files

    def large_files(self) -> None:
        candidates: list[tuple[str, int]] = []
        for digest, size, mtime in packs.large_files(self._files.root):
            if mtime <= self._old:
                candidates.append((digest, size))
            if len(candidates) >= _UNLINKS:
                self._large(candidates)
                candidates = []
                if self._stop():
                    return
        if candidates:
            self._large(candidates)

    def _large(self, candidates: Sequence[tuple[str, int]]) -> None:
        sizes = dict(candidates)
        query = f"SELECT value FROM json_each(?) WHERE NOT {live('value')}"
        page = json.dumps(list(sizes))
        dead = [row[0] for row in self._db.execute(query, (page,))]
        if not dead:
            return
        if self._dry_run:
            self.tally.blobs += len(dead)
            self.tally.large_files += len(dead)
            self.tally.bytes_freed += sum(sizes[d] for d in dead)
            return
        with self._transaction():
            for (digest,) in self._db.execute(query, (json.dumps(dead),)).fetchall():
                path = self._files.path(digest)
                modified = packs.mtime(path)
                if modified is None or modified > self._old:
                    continue  # gone, or just touched by an accept that found it
                freed = packs.remove(path)
                self._db.execute("DELETE FROM blob_packs WHERE digest = ? AND pack = ''"
                                 " AND refs <= 0", (digest,))
                self.tally.blobs += 1
                self.tally.large_files += 1
                self.tally.bytes_freed += freed
