"""The files garbage collection works on (storage/sqlite/blob_gc.py decides, this module does
the I/O): listing pack files and large blob files, copying a pack's live blobs into a new
pack, removing files.

A new pack is written like one of `FileBlobStore.make_durable`: a new name (O_EXCL), the
blobs one after the other, fdatasync, then its directory fsynced, all before the transaction
that points the index at it. Until then it is an unreferenced file, which the collector
removes once it is older than the grace period (a crash between the steps)."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from postoffice.storage.blobs import PackEntry
from postoffice.storage.interfaces import StorageError

_DIGEST = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"[0-9]{8}")
_names = itertools.count()
_sync_file = getattr(os, "fdatasync", os.fsync)


def pack_files(packs: Path) -> Iterator[tuple[str, int, float]]:
    """(path relative to blobs/packs, size, mtime) of every pack file."""
    for day in _scan(packs):
        if not (day.is_dir(follow_symlinks=False) and _DAY.fullmatch(day.name)):
            continue
        for entry in _scan(Path(day.path)):
            if entry.name.endswith(".pack") and entry.is_file(follow_symlinks=False):
                stat = _stat(entry)
                if stat is not None:
                    yield f"{day.name}/{entry.name}", stat.st_size, stat.st_mtime


def large_files(root: Path) -> Iterator[tuple[str, int, float]]:
    """(digest, size, mtime) of every large blob file (blobs/<hh>/<sha256>)."""
    for i in range(256):
        for entry in _scan(root / f"{i:02x}"):
            if _DIGEST.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                stat = _stat(entry)
                if stat is not None:
                    yield entry.name, stat.st_size, stat.st_mtime


def mtime(path: Path) -> float | None:
    """The file's modification time; None when it is gone."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def copy_live(packs: Path, source: str, entries: Sequence[tuple[str, int, int]]) -> list[PackEntry]:
    """Copy the blobs `entries` ((digest, offset, size) in `source`) into a new pack in the
    same day directory, written, fdatasynced and its directory fsynced; their new places.
    Each blob is checked against its digest on the way: StorageError (and no new file) when
    one does not match or the source is shorter than its index says."""
    day = packs / source.split("/", 1)[0]
    name = f"{int(time.time() * 1e6):x}-{os.getpid()}-c{next(_names)}.pack"
    placed: list[PackEntry] = []
    try:
        source_fd = os.open(packs / source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(f"cannot read pack {source}: {exc}") from exc
    target = day / name
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            offset = 0
            for digest, at, size in entries:
                data = _pread(source_fd, size, at)
                if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
                    raise StorageError(f"pack {source}: blob {digest} does not match its digest")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                placed.append(PackEntry(digest, f"{day.name}/{name}", offset, size))
                offset += size
            _sync_file(fd)
        finally:
            os.close(fd)
        fsync_dir(day)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        os.close(source_fd)
    return placed


def remove(path: Path) -> int:
    """Unlink a file; its size (0 when it was gone already)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def remove_empty_days(packs: Path) -> None:
    """Remove empty day directories, except today's and yesterday's (by the system clock,
    as `make_durable` names them): an accept may be about to write there."""
    now = time.time()
    recent = {time.strftime("%Y%m%d", time.gmtime(now - d)) for d in (0.0, 86400.0)}
    for day in _scan(packs):
        if day.is_dir(follow_symlinks=False) and _DAY.fullmatch(day.name) \
                and day.name not in recent:
            try:
                os.rmdir(day.path)
            except OSError:
                pass  # not empty


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pread(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            break
        data += more
    return data


def _scan(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as scan:
            return list(scan)
    except FileNotFoundError:
        return []


def _stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
