"""A kept folder index, brought up to date by modseq, equals a fresh read."""

from __future__ import annotations

import time
from pathlib import Path

from postoffice.access.index_cache import FolderIndexCache
from postoffice.storage import open_store
from postoffice.storage.mailboxes import NewMessage

ALICE = "alice@example.org"


def test_a_kept_index_catches_up_with_appends_flags_and_expunges(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        store.add_domain("example.org")
        store.add_user(ALICE, "x")

        def append(count: int) -> None:
            messages = []
            for i in range(count):
                writer = store.blobs.writer()
                writer.write(b"Subject: %d %f\r\n\r\nbody\r\n" % (i, time.time()))
                messages.append(NewMessage(writer.finish(), (), time.time()))
            store.append_messages(ALICE, "INBOX", messages)

        append(600)
        inbox = store.get_folder(ALICE, "INBOX")
        assert inbox is not None
        cache = FolderIndexCache()
        first = cache.index(store, inbox.id)
        first.uids.clear()  # a session's copy: editing it changes nothing kept
        store.store_flags(inbox.id, [3, 400], "add", ["\\Seen", "$Work"])
        store.store_flags(inbox.id, [5, 6, 599], "add", ["\\Deleted"])
        store.expunge(inbox.id)
        append(3)
        caught_up = cache.index(store, inbox.id)
        fresh = store.folder_index(inbox.id)
        assert (caught_up.uids, caught_up.flags, caught_up.modseqs) == (
            fresh.uids, fresh.flags, fresh.modseqs)
        assert caught_up.folder.highestmodseq == fresh.folder.highestmodseq
        assert len(caught_up.uids) == 600
    finally:
        store.close()
