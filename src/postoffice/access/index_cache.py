"""The uid/flags/modseq index of recently selected folders, kept per process.

Reading a 100,000-message folder's index from SQLite takes most of a SELECT; a folder's index
changes only by modseq, so a kept copy is brought up to date with `folder_changes` (new and
changed rows, vanished uids) instead. Sessions get copies: the selected view edits its lists.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict

from postoffice.storage import Store
from postoffice.storage.mailboxes import FolderIndex

KEPT_FOLDERS = 32
SMALL = 500
"""Folders with fewer messages are read afresh: cheaper than keeping them."""


class FolderIndexCache:
    def __init__(self, folders: int = KEPT_FOLDERS) -> None:
        self._folders = folders
        self._kept: OrderedDict[int, FolderIndex] = OrderedDict()
        self._lock = threading.Lock()

    def index(self, store: Store, folder_id: int) -> FolderIndex:
        with self._lock:
            kept = self._kept.pop(folder_id, None)
        if kept is None:
            fresh = store.folder_index(folder_id)
        else:
            fresh = _caught_up(store, kept)
        if len(fresh.uids) >= SMALL:
            with self._lock:
                self._kept[folder_id] = fresh
                while len(self._kept) > self._folders:
                    self._kept.popitem(last=False)
        return FolderIndex(fresh.folder, list(fresh.uids), list(fresh.flags),
                           list(fresh.modseqs))


def _caught_up(store: Store, kept: FolderIndex) -> FolderIndex:
    changes = store.folder_changes(kept.folder.id, kept.folder.highestmodseq)
    if changes.folder.uidvalidity != kept.folder.uidvalidity:
        return store.folder_index(kept.folder.id)
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
