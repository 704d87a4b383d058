"""Content-addressed message files in the data directory.

Layout:
    blobs/<hh>/<sha256hex>      final, immutable files; <hh> is the first two hex digits
    spool/tmp/<id>/<n>          temporary files of one live BlobStore, on the same filesystem
    spool/tmp/<id>.lock         flock()ed while that BlobStore lives

A message is written to a temporary file while it is hashed (`writer()`), and becomes durable
and visible only in `make_durable`, called by `Store.accept`: fsync every file, rename it to its
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
import itertools
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from postoffice.storage.interfaces import NotFound, PendingBlob, StorageError

_DIGEST = re.compile(r"[0-9a-f]{64}")
_BUFFER = 256 * 1024
_ORPHAN_LOCK_AGE = 3600.0
"""A lock file without its directory is a crash between the two; removed after this long."""

_T = TypeVar("_T")
_R = TypeVar("_R")

_sync_file: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True)
class SpooledBlob:
    """A finished temporary file: content hashed and complete, not yet durable nor visible."""

    digest: str
    """Hex SHA-256 of the content."""
    size: int
    path: Path
    """The temporary file."""


class SpoolWriter:
    """Streams content into a temporary file while hashing it.

    `write` is a buffered write plus a hash update, cheap enough for the event loop. `abort`
    after `finish` does nothing: the finished blob then belongs to `accept` or `discard`.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = open(path, "xb", buffering=_BUFFER)
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("write to a finished or aborted blob")
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def finish(self) -> SpooledBlob:
        if self._file is None:
            raise ValueError("finish of a finished or aborted blob")
        file, self._file = self._file, None
        file.close()
        return SpooledBlob(self._hash.hexdigest(), self._size, self._path)

    def abort(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        file.close()
        self._path.unlink(missing_ok=True)


class FileBlobStore:
    """The BlobStore of the embedded backend; shared by every backend using a local data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "blobs"
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
        return SpoolWriter(self._own_tmp_dir() / str(next(self._names)))

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

    def make_durable(self, pending: Sequence[PendingBlob], executor: Executor | None) -> None:
        """Make finished blobs durable and visible under their digest (see module docstring).

        Files are fsynced concurrently on `executor`, renamed (in this thread: concurrent
        renames contend), then every touched directory is fsynced once, concurrently.
        A blob whose temporary file is gone but whose final file exists (a retried accept,
        the same blob twice) counts as done. Raises StorageError."""
        unique = {p.path: p for p in map(_spooled, pending)}
        try:
            synced = _run_all(_sync_path, unique, executor)
            dirs: set[Path] = set()
            for blob, was_spooled in zip(unique.values(), synced, strict=True):
                final = self.path(blob.digest)
                if not was_spooled:
                    if not final.exists():
                        raise StorageError(f"blob {blob.digest} is neither spooled nor stored")
                elif final.exists():
                    blob.path.unlink(missing_ok=True)  # same content, stored already
                else:
                    os.rename(blob.path, final)
                # Even when the file existed: another process may have renamed it without
                # having fsynced the directory yet.
                dirs.add(final.parent)
            _run_all(_fsync_dir, dirs, executor)
        except OSError as exc:
            raise StorageError(f"cannot store message file: {exc}") from exc

    # reading

    def path(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise NotFound(f"not a blob digest: {digest!r}")
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"no blob {digest}") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as file:
            return file.read()

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
