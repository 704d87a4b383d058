"""Blob garbage collection of the embedded store (storage/sqlite/blob_gc.py): packs compacted
or dropped, large files removed, crashes between the steps of a compaction, and messages of
the same content arriving while a collection runs. Purges run at LATER (the injected clock
61 days on), so the files written now are past the grace period."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from postoffice.storage import Acceptance, NotFound, StorageError, Store, open_store
from postoffice.storage import packs as pack_files
from postoffice.storage.interfaces import DeliveryOutcome
from postoffice.storage.mailboxes import Summary
from postoffice.storage.sqlite.blob_gc import BlobCollector

if TYPE_CHECKING:
    from conftest import Mail

DAY = 86400.0
T0 = time.time()
LATER = T0 + 61 * DAY


class Crash(BaseException):
    """The process dies here: nothing after it runs."""


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    with contextlib.closing(open_store(data_dir)) as opened:
        yield opened


@pytest.fixture
def mail(store: Store, make_mail: type[Mail]) -> Mail:
    return make_mail(store)


def accept(mail: Mail, data: bytes, **fields: Any) -> Acceptance:
    """A message of content `data` accepted alone, one remote recipient."""
    pending = mail.blob(data)
    acceptance = mail.acceptance(pending, relay=["r@remote.example"], **fields)
    mail.store.accept([(pending, acceptance)])
    return acceptance


def pack_of(store: Store, mail: Mail, n: int, size: int = 2000) -> list[Acceptance]:
    """n messages accepted in one batch (one pack file), one remote recipient each."""
    batch = []
    for i in range(n):
        data = mail.content() + bytes([65 + i % 26]) * size
        pending = mail.blob(data)
        batch.append((pending, mail.acceptance(pending, relay=[f"r{i}@remote.example"],
                                               received_at=T0)))
    store.accept(batch)
    return [acceptance for _, acceptance in batch]


def finish(store: Store, acceptances: Sequence[Acceptance]) -> None:
    ids = {a.message.id for a in acceptances}
    store.complete([DeliveryOutcome(i.id, "delivered", "250 ok", T0)
                    for i in store.list_queue() if i.message_id in ids])


def pack_paths(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "blobs" / "packs").rglob("*.pack"))


def readable(store: Store, digest: str) -> bool:
    try:
        return hashlib.sha256(store.blobs.read(digest)).hexdigest() == digest
    except NotFound:
        return False


def contents(store: Store, acceptances: Sequence[Acceptance]) -> dict[str, bytes]:
    return {a.message.blob: store.blobs.read(a.message.blob) for a in acceptances}


def test_a_mostly_dead_pack_is_compacted_and_live_blobs_read_back(
        store: Store, mail: Mail, data_dir: Path) -> None:
    made = pack_of(store, mail, 10)
    dead, live = made[:6], made[6:]
    expected = contents(store, live)
    [old_pack] = pack_paths(data_dir)
    finish(store, dead)

    report = store.purge(LATER)

    assert (report.messages, report.blobs, report.packs_compacted) == (6, 6, 1)
    [new_pack] = pack_paths(data_dir)
    assert new_pack != old_pack and not old_pack.exists()
    assert new_pack.stat().st_size == sum(map(len, expected.values()))
    assert report.bytes_freed == old_pack_size(made) - new_pack.stat().st_size
    assert contents(store, live) == expected
    assert not any(readable(store, a.message.blob) for a in dead)
    with contextlib.closing(open_store(data_dir)) as other:
        assert contents(other, live) == expected
    assert store.purge(LATER).nothing


def old_pack_size(made: Sequence[Acceptance]) -> int:
    return sum(a.message.size for a in made)


def test_a_pack_with_nothing_live_is_removed(store: Store, mail: Mail, data_dir: Path) -> None:
    made = pack_of(store, mail, 3)
    finish(store, made)
    report = store.purge(LATER)
    assert (report.blobs, report.packs_dropped, report.packs_compacted) == (3, 1, 0)
    assert report.bytes_freed == old_pack_size(made)
    assert pack_paths(data_dir) == []


def test_a_mostly_live_pack_is_left_alone(store: Store, mail: Mail, data_dir: Path) -> None:
    made = pack_of(store, mail, 10)
    before = pack_paths(data_dir)
    finish(store, made[:2])
    report = store.purge(LATER)
    assert report.messages == 2 and report.packs_compacted == 0 and report.blobs == 0
    assert pack_paths(data_dir) == before
    assert all(readable(store, a.message.blob) for a in made[2:])


def test_dead_large_files_go_and_young_ones_stay(store: Store, mail: Mail) -> None:
    big = [accept(mail, bytes([70 + i]) * 300_000, received_at=T0 - 90 * DAY)
           for i in range(2)]
    finish(store, big[:1])
    # Purged now (real time): the message goes, but its file is too young to collect.
    report = store.purge(time.time())
    assert report.messages == 1 and report.large_files == 0
    assert readable(store, big[0].message.blob)
    report = store.purge(LATER)
    assert (report.blobs, report.large_files, report.bytes_freed) == (1, 1, 300_000)
    assert not readable(store, big[0].message.blob) and readable(store, big[1].message.blob)


def test_summaries_go_with_their_blobs(store: Store, mail: Mail) -> None:
    dead, live = mail.accept(relay=["a@remote.example"], received_at=T0), \
        mail.accept(relay=["b@remote.example"], received_at=T0)
    finish(store, [dead])
    store.put_summaries([Summary(a.message.blob, b"h", b"e", b"b", b"s", "{}")
                         for a in (dead, live)])
    assert store.purge(LATER).summaries == 1
    assert list(store.get_summaries([dead.message.blob, live.message.blob])) == [
        live.message.blob]


def test_an_unreferenced_pack_is_removed_once_older_than_the_grace(
        store: Store, data_dir: Path) -> None:
    day = data_dir / "blobs" / "packs" / time.strftime("%Y%m%d", time.gmtime())
    day.mkdir(exist_ok=True)
    left = day / "1-2-3.pack"
    left.write_bytes(b"half a pack written when the process died")
    assert store.purge(time.time()).orphan_packs == 0  # could be an accept in flight
    assert left.exists()
    assert store.purge(LATER).orphan_packs == 1
    assert not left.exists()


# crashes between the steps of a compaction


def crash(*args: object, **kwargs: object) -> Any:
    raise Crash


@pytest.mark.parametrize("step", ["before the commit", "after the commit"])
def test_a_crash_during_compaction_leaves_a_readable_store(
        store: Store, mail: Mail, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        step: str) -> None:
    made = pack_of(store, mail, 10)
    live = made[7:]
    expected = contents(store, live)
    finish(store, made[:7])
    if step == "before the commit":  # the new pack is written and synced, the index unchanged
        monkeypatch.setattr(BlobCollector, "repoint", crash)
    monkeypatch.setattr(pack_files, "remove", crash)  # nothing is removed after the crash

    with pytest.raises(Crash):
        store.purge(LATER)
    assert len(pack_paths(data_dir)) == 2  # the old pack and the new one
    monkeypatch.undo()

    with contextlib.closing(open_store(data_dir)) as reopened:
        assert contents(reopened, live) == expected
        report = reopened.purge(LATER)
        # The file left unreferenced by the crash goes (and, before the commit, the pack is
        # compacted again).
        assert report.orphan_packs == 1
        assert report.packs_compacted == (1 if step == "before the commit" else 0)
        assert len(pack_paths(data_dir)) == 1
        assert contents(reopened, live) == expected


def test_a_reader_that_found_the_old_pack_finds_the_new_one(
        store: Store, mail: Mail, data_dir: Path) -> None:
    made = pack_of(store, mail, 4)
    finish(store, made[:3])
    files = store.files  # type: ignore[attr-defined]
    before = files._locate(made[3].message.blob)
    assert store.purge(LATER).packs_compacted == 1
    assert files._read_packed(before) == contents(store, made[3:])[made[3].message.blob]


# the same content arriving while a collection runs


def test_a_dead_small_blob_accepted_again_during_compaction_is_kept(
        store: Store, mail: Mail, make_mail: type[Mail], data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = pack_of(store, mail, 10)
    finish(store, made[:8])
    revived = made[0]
    data = store.blobs.read(revived.message.blob)
    other = open_store(data_dir)
    real_copy = pack_files.copy_live

    def copy_then_accept(*args: Any) -> Any:
        placed = real_copy(*args)
        # Between "found dead" and the transaction: a new message with the same content.
        again = make_mail(other)
        pending = again.blob(data)
        other.accept([(pending, again.acceptance(pending, relay=["x@remote.example"]))])
        return placed

    monkeypatch.setattr(pack_files, "copy_live", copy_then_accept)
    try:
        report = store.purge(LATER)
        monkeypatch.undo()
        assert report.packs_compacted == 0  # the pack changed: left for the next run
        assert readable(store, revived.message.blob)
        assert all(readable(store, a.message.blob) for a in made[8:])
        assert store.purge(LATER).packs_compacted == 1
        assert store.blobs.read(revived.message.blob) == data
    finally:
        other.close()


def test_a_small_blob_accepted_again_while_its_pack_is_dropped_is_kept(
        store: Store, mail: Mail, make_mail: type[Mail], data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    made = [accept(mail, mail.content(), received_at=T0 - 90 * DAY) for _ in range(2)]
    finish(store, made)
    for path in pack_paths(data_dir):  # old packs; the accept's new one will be young
        os.utime(path, (T0 - 90 * DAY, T0 - 90 * DAY))
    data = store.blobs.read(made[0].message.blob)
    other = open_store(data_dir)
    try:
        again = make_mail(other)
        pending = again.blob(data)
        acceptance = again.acceptance(pending, relay=["x@remote.example"])
        real = other.files.make_durable  # type: ignore[attr-defined]

        def durable_then_collect(*args: Any) -> Any:
            entries = real(*args)
            # Between writing the new pack and the transaction: the old entry is removed.
            assert store.purge(time.time()).packs_dropped == 2
            return entries

        monkeypatch.setattr(other.files, "make_durable", durable_then_collect)  # type: ignore[attr-defined]
        other.accept([(pending, acceptance)])
        assert store.blobs.read(acceptance.message.blob) == data
        assert store.purge(time.time()).nothing
    finally:
        other.close()


def test_a_large_blob_collected_during_an_accept_of_it_fails_that_accept(
        store: Store, mail: Mail, make_mail: type[Mail], data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"L" * 300_000
    old = accept(mail, data, received_at=T0)
    finish(store, [old])
    other = open_store(data_dir)
    try:
        again = make_mail(other)
        pending = again.blob(data)
        acceptance = again.acceptance(pending, relay=["x@remote.example"])
        real = other.files.make_durable  # type: ignore[attr-defined]

        def durable_then_collect(*args: Any) -> Any:
            entries = real(*args)  # finds the file there: touches it, drops its own copy
            assert store.purge(LATER).large_files == 1  # LATER: even a touched file is old
            return entries

        monkeypatch.setattr(other.files, "make_durable", durable_then_collect)  # type: ignore[attr-defined]
        with pytest.raises(StorageError):
            other.accept([(pending, acceptance)])
        assert other.get_message(acceptance.message.id) is None  # no reference to nothing
    finally:
        other.close()


def test_an_accept_that_finds_a_large_file_makes_it_young_again(
        store: Store, mail: Mail, make_mail: type[Mail], data_dir: Path) -> None:
    data = b"Y" * 300_000
    old = accept(mail, data, received_at=T0 - 90 * DAY)
    finish(store, [old])
    path = data_dir / "blobs" / old.message.blob[:2] / old.message.blob
    os.utime(path, (T0 - 90 * DAY, T0 - 90 * DAY))
    again = make_mail(store)
    pending = again.blob(data)
    store.files.make_durable([pending], None)  # type: ignore[attr-defined]  # in flight
    report = store.purge(time.time())
    assert report.messages == 1 and report.large_files == 0  # young again: not collected
    store.accept([(pending, again.acceptance(pending, relay=["b@remote.example"]))])
    assert store.blobs.read(old.message.blob) == data
