"""Folder indexes on disk: a snapshot round-trips, a bad one is thrown away, and a cache that
starts from a snapshot (a restart) and catches up equals a fresh read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.access import index_cache, index_snapshots
from postoffice.access.index_cache import FolderIndexCache
from postoffice.access.index_snapshots import SnapshotDir
from postoffice.storage import Store, open_store
from postoffice.storage.interfaces import Folder
from postoffice.storage.mailboxes import FolderIndex, NewMessage

ALICE = "alice@example.org"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setattr(index_snapshots, "MIN_MESSAGES", 50)
    monkeypatch.setattr(index_cache, "MIN_MESSAGES", 50)
    opened = open_store(tmp_path / "data")
    opened.add_domain("example.org")
    opened.add_user(ALICE, "x")
    yield opened
    opened.close()


def append(store: Store, count: int, flags: tuple[str, ...] = ()) -> None:
    messages = []
    for i in range(count):
        writer = store.blobs.writer()
        writer.write(b"Subject: %d %f\r\n\r\nbody\r\n" % (i, time.time()))
        messages.append(NewMessage(writer.finish(), flags, time.time()))
    store.append_messages(ALICE, "INBOX", messages)


def inbox_id(store: Store) -> int:
    folder = store.get_folder(ALICE, "INBOX")
    assert folder is not None
    return folder.id


def wait_for_file(path: Path) -> None:
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert path.exists()


def same(a: FolderIndex, b: FolderIndex) -> bool:
    return (a.uids, a.flags, a.modseqs, a.folder.highestmodseq, a.folder.uidvalidity) == (
        b.uids, b.flags, b.modseqs, b.folder.highestmodseq, b.folder.uidvalidity)


def test_a_snapshot_round_trips(store: Store, tmp_path: Path) -> None:
    append(store, 60, ("\\Seen",))
    append(store, 5, ("\\Flagged", "$Work"))
    index = store.folder_index(inbox_id(store))
    snapshots = SnapshotDir(tmp_path / "snap")
    snapshots.save(index)
    loaded = snapshots.load(index.folder.id)
    assert loaded is not None and same(loaded, index)
    assert snapshots.load(index.folder.id + 1) is None


@pytest.mark.parametrize("damage", [
    lambda data: data[:-3],                                   # short
    lambda data: b"not json\n" + data.split(b"\n", 1)[1],     # unreadable head
    lambda data: data.replace(b'"v": 1', b'"v": 9'),          # another version
])
def test_a_damaged_snapshot_is_thrown_away(store: Store, tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    append(store, 60)
    index = store.folder_index(inbox_id(store))
    snapshots = SnapshotDir(tmp_path / "snap")
    snapshots.save(index)
    path = tmp_path / "snap" / f"{index.folder.id}.idx"
    path.write_bytes(damage(path.read_bytes()))
    assert snapshots.load(index.folder.id) is None
    assert not path.exists()


def test_a_restarted_cache_starts_from_the_snapshot_and_catches_up(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    append(store, 80)
    folder_id = inbox_id(store)
    snapshots = SnapshotDir(tmp_path / "snap")
    FolderIndexCache(snapshots=snapshots).index(store, folder_id)
    wait_for_file(tmp_path / "snap" / f"{folder_id}.idx")
    # after the "restart": changes the snapshot does not know
    store.store_flags(folder_id, [3, 40], "add", ["\\Seen", "$Work"])
    store.store_flags(folder_id, [5, 6, 79], "add", ["\\Deleted"])
    store.expunge(folder_id)
    append(store, 4)
    reads: list[int] = []
    original = store.folder_index
    monkeypatch.setattr(store, "folder_index", lambda fid: reads.append(fid) or original(fid))
    restarted = FolderIndexCache(snapshots=snapshots).index(store, folder_id)
    assert reads == []  # no full read: the snapshot and folder_changes were enough
    assert same(restarted, original(folder_id))


def test_another_uidvalidity_means_a_full_read(store: Store, tmp_path: Path) -> None:
    append(store, 60)
    folder_id = inbox_id(store)
    snapshots = SnapshotDir(tmp_path / "snap")
    index = store.folder_index(folder_id)
    stale = FolderIndex(
        Folder("INBOX", index.folder.uidvalidity + 1, index.folder.uidnext,
                               None, folder_id, index.folder.highestmodseq),
        index.uids[:10], index.flags[:10], index.modseqs[:10])
    snapshots.save(stale)
    loaded = FolderIndexCache(snapshots=snapshots).index(store, folder_id)
    assert same(loaded, store.folder_index(folder_id))


def test_warm_makes_the_missing_snapshots_of_large_folders(store: Store, tmp_path: Path) -> None:
    append(store, 60)
    store.create_folder(ALICE, "Small")
    snapshots = SnapshotDir(tmp_path / "snap")
    cache = FolderIndexCache(snapshots=snapshots)
    assert cache.warm(store) == 1
    assert [p.name for p in (tmp_path / "snap").iterdir()] == [f"{inbox_id(store)}.idx"]
    assert FolderIndexCache(snapshots=snapshots).warm(store) == 0  # there already
