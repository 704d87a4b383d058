"""The uid/flags/modseq index of recently selected folders, kept per process.

Reading a 100,000-message folder's index from SQLite takes most of a SELECT; a folder's index
changes only by modseq, so a kept copy is brought up to date with `folder_changes` (new and
changed rows, vanished uids) instead. Sessions get copies: the selected view edits its lists.
Large folders are also kept on disk (access/index_snapshots.py), so a restart does not start
from nothing: `warm` makes the missing snapshots when a worker starts.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections import OrderedDict

from postoffice.access.index_snapshots import MIN_MESSAGES, SnapshotDir
from postoffice.storage import NotFound, Store
from postoffice.storage.mailboxes import FolderIndex

log = logging.getLogger("postoffice.imap")

KEPT_FOLDERS = 32
SMALL = 500
"""Folders with fewer messages are read afresh: cheaper than keeping them."""
RESAVE_AFTER = 5_000
"""A snapshot is written again once its folder has moved on by this many modseqs."""


class FolderIndexCache:
    def __init__(self, folders: int = KEPT_FOLDERS, snapshots: SnapshotDir | None = None) -> None:
        self._folders = folders
        self._kept: OrderedDict[int, FolderIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._snapshots = snapshots
        self._saved: dict[int, int] = {}
        """folder id -> the highestmodseq of its snapshot on disk"""

    def index(self, store: Store, folder_id: int) -> FolderIndex:
        with self._lock:
            kept = self._kept.pop(folder_id, None)
        if kept is None and self._snapshots is not None:
            kept = self._snapshots.load(folder_id)
            if kept is not None:
                self._saved[folder_id] = kept.folder.highestmodseq
        if kept is None:
            fresh = store.folder_index(folder_id)
        else:
            fresh = _caught_up(store, kept)
        self._maybe_save(fresh)
        if len(fresh.uids) >= SMALL:
            with self._lock:
                self._kept[folder_id] = fresh
                while len(self._kept) > self._folders:
                    self._kept.popitem(last=False)
        return FolderIndex(fresh.folder, list(fresh.uids), list(fresh.flags),
                           list(fresh.modseqs))

    def _maybe_save(self, index: FolderIndex) -> None:
        """Write the snapshot of a large folder when there is none or it is far behind (on a
        thread of its own, from copies: the kept lists change under later catch-ups)."""
        snapshots, folder = self._snapshots, index.folder
        if snapshots is None or len(index.uids) < MIN_MESSAGES:
            return
        saved = self._saved.get(folder.id)
        if saved is not None and folder.highestmodseq - saved < RESAVE_AFTER:
            return
        self._saved[folder.id] = folder.highestmodseq
        copy = FolderIndex(folder, list(index.uids), list(index.flags), list(index.modseqs))
        threading.Thread(target=snapshots.save, args=(copy,), daemon=True).start()

    def warm(self, store: Store) -> int:
        """Make the snapshots large folders lack (a worker starting); how many were made."""
        if self._snapshots is None:
            return 0
        made = 0
        for folder_id in store.large_folders(MIN_MESSAGES):
            if folder_id in self._saved or self._snapshots.load(folder_id) is not None:
                continue
            try:
                index = store.folder_index(folder_id)
            except NotFound:
                continue
            if len(index.uids) >= MIN_MESSAGES:
                self._snapshots.save(index)
                self._saved[folder_id] = index.folder.highestmodseq
                made += 1
        if made:
            log.info("folder index snapshots made for %d large folder(s)", made)
        return made


def _caught_up(store: Store, kept: FolderIndex) -> FolderIndex:
    changes = store.folder_changes(kept.folder.id, kept.folder.highestmodseq)
    if changes.folder.uidvalidity != kept.folder.uidvalidity or \
            changes.folder.highestmodseq < kept.folder.highestmodseq:
        return store.folder_index(kept.folder.id)  # another folder, or a restored database
    uids, flags, modseqs = kept.uids, kept.flags, kept.modseqs
    if changes.vanished:
        gone = set(changes.vanished)
        keep = [i for i, uid in enumerate(uids) if uid not in gone]
        uids = [uids[i] for i in keep]
        flags = [flags[i] for i in keep]
        modseqs = [modseqs[i] for i in keep]
    for row in changes.changed:
        i = bisect_left(uids, row.uid)
        if i < len(uids) and uids[i] == row.uid:
            flags[i], modseqs[i] = " ".join(row.flags), row.modseq
        else:
            uids.insert(i, row.uid)
            flags.insert(i, " ".join(row.flags))
            modseqs.insert(i, row.modseq)
    return FolderIndex(changes.folder, uids, flags, modseqs)
