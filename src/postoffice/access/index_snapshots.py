"""Folder indexes kept on disk, so the first SELECT of a large folder after a restart reads a
file instead of every row of the folder.

One file per folder (`<dir>/<folder id>.idx`): a JSON line (folder, uidvalidity, uidnext,
highestmodseq, count, the distinct flag strings), then the uids, modseqs and flag numbers as
packed little-endian arrays. A snapshot is only a starting point: the cache brings it up to
date with `folder_changes` like any kept index, and a snapshot that does not fit (another
uidvalidity, a modseq from the future, a short file) is thrown away."""

from __future__ import annotations

import json
import os
import sys
from array import array
from pathlib import Path

from postoffice.storage.interfaces import Folder
from postoffice.storage.mailboxes import FolderIndex

MIN_MESSAGES = 10_000
"""Folders with fewer messages read their index from the database in little time."""
_VERSION = 1


class SnapshotDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self, folder_id: int) -> Path:
        return self.path / f"{folder_id}.idx"

    def load(self, folder_id: int) -> FolderIndex | None:
        """The saved index of a folder, or None (none saved, or unreadable: then removed)."""
        try:
            data = self._file(folder_id).read_bytes()
        except OSError:
            return None
        index = _decode(data, folder_id)
        if index is None:
            self.remove(folder_id)
        return index

    def save(self, index: FolderIndex) -> None:
        """Write atomically; a failure (disk full) only costs the next restart a full read."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self._file(index.folder.id)
        temporary = target.with_suffix(f".tmp{os.getpid()}")
        try:
            temporary.write_bytes(_encode(index))
            os.replace(temporary, target)
        except OSError:
            temporary.unlink(missing_ok=True)

    def remove(self, folder_id: int) -> None:
        self._file(folder_id).unlink(missing_ok=True)


def _encode(index: FolderIndex) -> bytes:
    names = list(dict.fromkeys(index.flags))
    number = {name: i for i, name in enumerate(names)}
    folder = index.folder
    head = {"v": _VERSION, "folder": folder.id, "name": folder.name,
            "uidvalidity": folder.uidvalidity, "uidnext": folder.uidnext,
            "highestmodseq": folder.highestmodseq, "count": len(index.uids), "flags": names}
    uids, modseqs = array("Q", index.uids), array("Q", index.modseqs)
    flags = array("I", (number[f] for f in index.flags))
    if sys.byteorder != "little":
        for packed in (uids, modseqs, flags):
            packed.byteswap()
    return (json.dumps(head).encode() + b"\n" + uids.tobytes() + modseqs.tobytes()
            + flags.tobytes())


def _decode(data: bytes, folder_id: int) -> FolderIndex | None:
    end = data.find(b"\n")
    try:
        head = json.loads(data[:end])
        count, names = int(head["count"]), list(head["flags"])
        folder = Folder(str(head["name"]), int(head["uidvalidity"]), int(head["uidnext"]), None,
                        int(head["folder"]), int(head["highestmodseq"]))
    except (ValueError, KeyError, TypeError):
        return None
    body = memoryview(data)[end + 1:]
    if head.get("v") != _VERSION or folder.id != folder_id or len(body) != count * 20:
        return None
    uids, modseqs, numbers = array("Q"), array("Q"), array("I")
    uids.frombytes(body[:count * 8])
    modseqs.frombytes(body[count * 8:count * 16])
    numbers.frombytes(body[count * 16:])
    if sys.byteorder != "little":
        for packed in (uids, modseqs, numbers):
            packed.byteswap()
    if numbers and max(numbers) >= len(names):
        return None
    return FolderIndex(folder, uids.tolist(), [names[n] for n in numbers], modseqs.tolist())
