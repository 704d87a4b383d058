"""Blob reads that never wait for the disk (storage/blobs.read_if_cached) and the Store
stand-in FETCH uses on the event loop (access/memory_reads.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postoffice.access.memory_reads import MemoryReads, NotInMemory
from postoffice.storage import open_store
from postoffice.storage.blobs import BlobLocation, read_if_cached

needs_nowait = pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"),
                                  reason="RWF_NOWAIT (Linux) tells whether a read would wait")


@needs_nowait
def test_a_cached_pack_is_read_and_a_missing_or_short_one_is_not(tmp_path: Path) -> None:
    pack = tmp_path / "p.pack"
    pack.write_bytes(b"aaaa" + b"hello" + b"zz")
    assert read_if_cached(BlobLocation(pack, 4, 5)) == b"hello"
    assert read_if_cached(BlobLocation(pack, 8, 5)) is None  # past the end: not all of it
    assert read_if_cached(BlobLocation(tmp_path / "gone.pack", 0, 5)) is None


@needs_nowait
def test_store_locations_point_at_the_bytes(tmp_path: Path) -> None:
    with open_store(tmp_path / "data") as store:
        store.add_domain("example.org")
        store.add_user("a@example.org", "x")
        from postoffice.storage.mailboxes import NewMessage
        digests = []
        messages = []
        for n in range(3):
            writer = store.blobs.writer()
            writer.write(b"Subject: %d\r\n\r\nbody\r\n" % n)
            pending = writer.finish()
            digests.append(pending.digest)
            messages.append(NewMessage(pending, (), 0.0))
        store.append_messages("a@example.org", "INBOX", messages)
        locations = store.blob_locations([*digests, "0" * 64])
        assert set(locations) == set(digests)
        for digest in digests:
            assert read_if_cached(locations[digest]) == store.blobs.read(digest)


@needs_nowait
def test_memory_reads_serve_known_cached_blobs_within_a_budget(tmp_path: Path) -> None:
    pack = tmp_path / "p.pack"
    pack.write_bytes(b"0123456789")
    reads = MemoryReads({"a": BlobLocation(pack, 0, 6), "b": BlobLocation(pack, 6, 4),
                         "gone": BlobLocation(tmp_path / "x.pack", 0, 1)}, budget=8)
    assert reads.blobs.read("a") == b"012345"
    with pytest.raises(NotInMemory):
        reads.blobs.read("b")  # over what is left of the budget
    for missing in ("gone", "unknown"):
        with pytest.raises(NotInMemory):
            reads.blobs.read(missing)
    with pytest.raises(NotInMemory):  # anything else needs the store
        reads.messages_by_uid(1, [1])
