"""Content-addressed message files in the data directory.

Layout:
    blobs/<hh>/<sha256hex>      large blobs: final, immutable files; <hh> = first two hex digits
    blobs/packs/<day>/<name>    small blobs: one immutable pack file per group commit, each
                                blob at an offset the database records (blob_packs)
    spool/tmp/<id>/<n>          temporary files of one live BlobStore, on the same filesystem
    spool/tmp/<id>.lock         flock()ed while that BlobStore lives

Why packs: creating an inode per message dominated the CPU cost of accepting mail on ext4
(inode allocation scans recently deleted inodes; creates in one directory serialise on its
lock). A batch of small messages now costs one file, one fdatasync and one directory fsync.

A message is kept in memory (up to MEMORY_LIMIT) or written to a temporary file while it is
hashed (`writer()`), and becomes durable and visible only in `make_durable`, called by `Store.accept`: fsync every file, rename it to its
final path, fsync every touched directory once. A final path never holds partial content.

If the database transaction that follows fails, the renamed files stay as unreferenced orphans:
harmless (same content, same name if the message comes again) and left to garbage collection,
which must only remove unreferenced files older than any accept in flight.

Each BlobStore keeps its temporary files in its own directory guarded by an flock, so
`clean_temp()` at startup removes what dead processes left without touching the temporary
files of other live processes sharing the data directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import itertools
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

from postoffice.storage.interfaces import NotFound, PendingBlob, StorageError

_DIGEST = re.compile(r"[0-9a-f]{64}")
_BUFFER = 64 * 1024
MEMORY_LIMIT = 128 * 1024
"""Content up to this size stays in memory until `make_durable` writes it: no file is created
on the event loop for ordinary messages (creating files there costs more than the whole SMTP
transaction). Larger content spills to the temporary file as it streams."""
_ORPHAN_LOCK_AGE = 3600.0
"""A lock file without its directory is a crash between the two; removed after this long."""

_T = TypeVar("_T")
_R = TypeVar("_R")

_sync_file: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


_NOWAIT: Final[int] = getattr(os, "RWF_NOWAIT", 0)
"""Linux: a read fails instead of waiting for pages that are not in the cache."""


@dataclass(frozen=True)
class BlobLocation:
    """Where a packed blob's bytes are: packs are written once and never change (compaction
    writes new ones and removes the old), so a location stays right or its file is gone."""

    path: Path
    offset: int
    size: int


def read_if_cached(location: BlobLocation) -> bytes | None:
    """The blob when the page cache holds all of it, without ever waiting for the disk (an
    event loop may call this); None when it does not, the pack is gone (compacted), or the
    system cannot tell (no RWF_NOWAIT: not Linux)."""
    if not _NOWAIT:
        return None
    try:
        fd = os.open(location.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        buffer = bytearray(location.size)
        try:
            got = os.preadv(fd, [buffer], location.offset, _NOWAIT)
        except OSError:  # EAGAIN: some of it would come from the disk
            return None
        return bytes(buffer) if got == location.size else None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class SpooledBlob:
    """A finished temporary file: content hashed and complete, not yet durable nor visible."""

    digest: str
    """Hex SHA-256 of the content."""
    size: int
    path: Path
    """The temporary file (not yet created when `data` is set)."""
    data: bytes | None = field(default=None, repr=False)
    """The content, when it stayed in memory; `make_durable` writes it to `path`."""


@dataclass(frozen=True)
class PackEntry:
    """Where `make_durable` put a small blob: the caller records it with the batch's rows."""

    digest: str
    pack: str
    """Path of the pack file relative to blobs/packs."""
    offset: int
    size: int


Locator = Callable[[str], "PackEntry | None"]


class SpoolWriter:
    """Streams content into memory, then (past `memory_limit`) a temporary file, hashing it.

    `write` is a buffer append or buffered file write plus a hash update, cheap enough for the
    event loop. `abort` after `finish` does nothing: the finished blob then belongs to `accept`
    or `discard`.
    """

    def __init__(self, path: Path, memory_limit: int = MEMORY_LIMIT) -> None:
        self._path = path
        self._limit = memory_limit
        self._memory: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self._done = False
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._done:
            raise ValueError("write to a finished or aborted blob")
        if self._memory is not None:
            if self._size + len(data) <= self._limit:
                self._memory += data
            else:
                self._file = open(self._path, "xb", buffering=_BUFFER)
                self._file.write(self._memory)
                self._file.write(data)
                self._memory = None
        else:
            assert self._file is not None
            self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def peek(self) -> bytes:
        if self._memory is not None:
            return bytes(self._memory)
        if self._file is None:
            raise ValueError("peek at a finished or aborted blob")
        self._file.flush()
        return self._path.read_bytes()

    def finish(self, prefix: bytes = b"") -> SpooledBlob:
        if self._done:
            raise ValueError("finish of a finished or aborted blob")
        self._done = True
        data = None
        if self._memory is not None:
            data, self._memory = bytes(self._memory), None
        if self._file is not None:
            self._file.close()
            self._file = None
        if not prefix:
            return SpooledBlob(self._hash.hexdigest(), self._size, self._path, data)
        # The hash so far cannot take a prefix: hash again (a copy, for a file of its own).
        if data is not None:
            data = prefix + data
            return SpooledBlob(hashlib.sha256(data).hexdigest(), len(data), self._path, data)
        digest = hashlib.sha256(prefix)
        joined = self._path.with_name(self._path.name + ".p")
        try:
            with open(self._path, "rb") as source, open(joined, "xb", buffering=_BUFFER) as target:
                target.write(prefix)
                while chunk := source.read(_BUFFER):
                    digest.update(chunk)
                    target.write(chunk)
            os.replace(joined, self._path)
        except OSError:
            joined.unlink(missing_ok=True)
            self._path.unlink(missing_ok=True)
            raise
        return SpooledBlob(digest.hexdigest(), len(prefix) + self._size, self._path, None)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._memory = None
        if self._file is not None:
            self._file.close()
            self._file = None
            self._path.unlink(missing_ok=True)


class FileBlobStore:
    """The BlobStore of the embedded backend; shared by every backend using a local data dir."""

    def __init__(
        self, data_dir: Path, locator: Locator | None = None, memory_limit: int = MEMORY_LIMIT
    ) -> None:
        self._locator = locator
        self._memory_limit = memory_limit
        """Finds packed blobs (the database's blob_packs table)."""
        self.root = data_dir / "blobs"
        self.packs = self.root / "packs"
        self.spool = data_dir / "spool" / "tmp"
        self._lock = threading.Lock()
        self._tmp_dir: Path | None = None
        self._lock_fd: int | None = None
        self._owner = 0
        """pid that made _tmp_dir: a forked child makes its own."""
        self._names = itertools.count()
        self._create_dirs()

    def _create_dirs(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        created = False
        try:
            self.packs.mkdir()
            created = True
        except FileExistsError:
            pass
        for i in range(256):
            try:
                (self.root / f"{i:02x}").mkdir()
                created = True
            except FileExistsError:
                pass
        if created:
            _fsync_dir(self.root)
            _fsync_dir(self.root.parent)

    # writing

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self._own_tmp_dir() / str(next(self._names)), self._memory_limit)

    def _own_tmp_dir(self) -> Path:
        with self._lock:
            if self._tmp_dir is not None and self._owner != os.getpid():
                if self._lock_fd is not None:
                    os.close(self._lock_fd)  # our copy; the parent keeps its lock
                self._tmp_dir = self._lock_fd = None
            if self._tmp_dir is None:
                name = f"{os.getpid()}-{secrets.token_hex(6)}"
                # Lock first, then make the directory: a cleaner only looks at directories.
                fd = os.open(self.spool / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                (self.spool / name).mkdir()
                self._lock_fd, self._tmp_dir, self._owner = fd, self.spool / name, os.getpid()
            return self._tmp_dir

    def discard(self, pending: PendingBlob) -> None:
        _spooled(pending).path.unlink(missing_ok=True)

    def make_durable(
        self, pending: Sequence[PendingBlob], executor: Executor | None
    ) -> list[PackEntry]:
        """Make finished blobs durable and visible under their digest (see module docstring).

        Small (in-memory) blobs go into one new pack file; the returned entries must be
        recorded in the same transaction as the rows that reference them. Spilled blobs are
        fsynced concurrently on `executor` and renamed to their final path; then every touched
        directory is fsynced once. A spilled blob whose temporary file is gone but whose final
        file exists (a retried accept) counts as done. Raises StorageError."""
        unique = {p.digest: p for p in map(_spooled, pending)}
        small = [b for b in unique.values() if b.data is not None]
        large = [b for b in unique.values() if b.data is None]
        try:
            dirs: set[Path] = set()
            entries = self._write_pack(small, dirs) if small else []
            synced = _run_all(_sync_path, [b.path for b in large], executor)
            for blob, was_spooled in zip(large, synced, strict=True):
                final = self.path(blob.digest)
                if not was_spooled:
                    if not _touch(final):
                        raise StorageError(f"blob {blob.digest} is neither spooled nor stored")
                elif _touch(final):
                    blob.path.unlink(missing_ok=True)  # same content, stored already
                else:
                    os.rename(blob.path, final)
                # Even when the file existed: another process may have renamed it without
                # having fsynced the directory yet.
                dirs.add(final.parent)
            _run_all(_fsync_dir, dirs, executor)
        except OSError as exc:
            raise StorageError(f"cannot store message file: {exc}") from exc
        return entries

    def check_durable(self, digests: Iterable[str], entries: Sequence[PackEntry]) -> None:
        """Called inside the transaction that records blobs `make_durable` returned (under
        the writer lock, which garbage collection holds while it removes files): StorageError
        unless every new pack and every other (large) blob's file is still there. A stat per
        pack and per large blob; it turns a collection racing a message of the same content
        into a failed, retried accept instead of a reference to a missing file."""
        packed = {entry.digest for entry in entries}
        for pack in {entry.pack for entry in entries}:
            if not (self.packs / pack).exists():
                raise StorageError(f"pack {pack} is gone before its commit")
        for digest in set(digests) - packed:
            if not self.path(digest).exists():
                raise StorageError(f"blob {digest} is gone before its commit")

    def _write_pack(self, blobs: Sequence[SpooledBlob], dirs: set[Path]) -> list[PackEntry]:
        """One new pack file holding `blobs`, written and fdatasynced; its directory (and the
        day directory's parent, when the day directory is new) is added to `dirs`."""
        now = time.time()
        day = self.packs / time.strftime("%Y%m%d", time.gmtime(now))
        if not day.is_dir():
            day.mkdir(exist_ok=True)
            dirs.add(self.packs)
        name = f"{int(now * 1e6):x}-{os.getpid()}-{next(self._names)}.pack"
        fd = os.open(day / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        entries = []
        try:
            offset = 0
            for blob in blobs:
                assert blob.data is not None
                entries.append(PackEntry(blob.digest, f"{day.name}/{name}", offset, blob.size))
                offset += blob.size
            # One write for the pack (a write per blob gives the GIL away once per message).
            view = memoryview(b"".join(bytes(blob.data or b"") for blob in blobs))
            while view:
                view = view[os.write(fd, view) :]
            _sync_file(fd)
        finally:
            os.close(fd)
        dirs.add(day)
        return entries

    # reading

    def path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise NotFound(f"not a blob digest: {digest!r}")
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists() or self._locate(digest) is not None

    def _locate(self, digest: str) -> PackEntry | None:
        return self._locator(digest) if self._locator is not None else None

    def open(self, digest: str) -> BinaryIO:
        path = self.path(digest)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            pass
        entry = self._locate(digest)
        if entry is None:
            raise NotFound(f"no blob {digest}")
        return io.BytesIO(self._read_packed(entry))

    def read(self, digest: str) -> bytes:
        """The whole content. Most blobs are small and packed: one index lookup and one
        positioned read, no file object, no copy."""
        if self._locator is not None and _DIGEST.fullmatch(digest):
            entry = self._locate(digest)
            if entry is not None:
                return self._read_packed(entry)
        with self.open(digest) as file:
            return file.read()

    def _read_packed(self, entry: PackEntry) -> bytes:
        try:
            fd = os.open(self.packs / entry.pack, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            # Compacted since the lookup: the index now points into the new pack (once).
            moved = self._locate(entry.digest)
            if moved is None:
                raise NotFound(f"no blob {entry.digest}") from None
            if moved == entry:
                raise
            fd = os.open(self.packs / moved.pack, os.O_RDONLY | os.O_CLOEXEC)
            entry = moved
        try:
            data = os.pread(fd, entry.size, entry.offset)
            while len(data) < entry.size:
                more = os.pread(fd, entry.size - len(data), entry.offset + len(data))
                if not more:
                    raise StorageError(f"pack {entry.pack} is shorter than its index says")
                data += more
        finally:
            os.close(fd)
        return data

    # housekeeping

    def clean_temp(self) -> int:
        removed = 0
        with os.scandir(self.spool) as scan:
            entries = list(scan)
        for entry in entries:
            path = Path(entry.path)
            if self._tmp_dir is not None and path in (
                self._tmp_dir,
                self._lock_path(self._tmp_dir),
            ):
                continue
            if entry.is_dir(follow_symlinks=False):
                removed += _remove_if_dead(path, self._lock_path(path))
            elif entry.name.endswith(".lock"):
                if not (self.spool / entry.name[: -len(".lock")]).exists():
                    removed += _remove_orphan_lock(path)
            else:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        """Release this store's temporary directory (removed if empty, else left to cleaning)."""
        with self._lock:
            if self._tmp_dir is None or self._lock_fd is None:
                return
            try:
                if self._owner != os.getpid():
                    raise OSError("not ours: made before a fork")
                self._tmp_dir.rmdir()
                self._lock_path(self._tmp_dir).unlink(missing_ok=True)
            except OSError:
                pass  # unfinished blobs remain: the next clean_temp removes them
            os.close(self._lock_fd)
            self._tmp_dir = self._lock_fd = None

    @staticmethod
    def _lock_path(tmp_dir: Path) -> Path:
        return tmp_dir.with_name(tmp_dir.name + ".lock")


def _spooled(pending: PendingBlob) -> SpooledBlob:
    if not isinstance(pending, SpooledBlob):
        raise TypeError(f"not a blob of this store: {pending!r}")
    return pending


def _sync_path(path: Path) -> bool:
    """fsync a temporary file; False if it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        _sync_file(fd)
    finally:
        os.close(fd)
    return True


def _touch(path: Path) -> bool:
    """Make an existing blob file young again (garbage collection leaves young files alone);
    False if there is none."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _run_all(fn: Callable[[_T], _R], items: Iterable[_T], executor: Executor | None) -> list[_R]:
    """fn over items, concurrently when there are several (concurrent fsyncs share a journal
    commit on ext4 and xfs)."""
    todo = list(items)
    if executor is None or len(todo) < 2:
        return [fn(item) for item in todo]
    return list(executor.map(fn, todo))


def _remove_if_dead(tmp_dir: Path, lock: Path) -> int:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its process is alive
        count = sum(1 for _ in tmp_dir.iterdir())
        shutil.rmtree(tmp_dir, ignore_errors=True)
        lock.unlink(missing_ok=True)
        return count
    finally:
        os.close(fd)


def _remove_orphan_lock(lock: Path) -> int:
    try:
        if time.time() - lock.stat().st_mtime < _ORPHAN_LOCK_AGE:
            return 0
    except FileNotFoundError:
        return 0
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return 0
