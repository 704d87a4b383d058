"""The file blob store: streaming, temporary files, durability step, cleaning."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from postoffice.storage import NotFound, StorageError
from postoffice.storage.blobs import FileBlobStore, SpooledBlob


@pytest.fixture
def blobs(data_dir: Path) -> Iterator[FileBlobStore]:
    """Every blob spills to a temporary file (the path large messages take)."""
    store = FileBlobStore(data_dir, memory_limit=0)
    yield store
    store.close()


def spool(blobs: FileBlobStore, data: bytes) -> SpooledBlob:
    writer = blobs.writer()
    for i in range(0, len(data), 7):
        writer.write(data[i : i + 7])
    return writer.finish()


def test_layout_is_created(blobs: FileBlobStore, data_dir: Path) -> None:
    fanout = sorted(p.name for p in (data_dir / "blobs").iterdir())
    assert fanout == [f"{i:02x}" for i in range(256)] + ["packs"]
    assert (data_dir / "spool" / "tmp").is_dir()


def test_writer_hashes_while_streaming(blobs: FileBlobStore, data_dir: Path) -> None:
    data = os.urandom(100_000)
    pending = spool(blobs, data)
    assert pending.digest == hashlib.sha256(data).hexdigest()
    assert pending.size == len(data)
    assert pending.path.read_bytes() == data
    assert pending.path.is_relative_to(data_dir / "spool" / "tmp")
    assert not blobs.exists(pending.digest)  # not visible before it is made durable
    with pytest.raises(NotFound):
        blobs.open(pending.digest)


def test_make_durable_moves_to_the_content_address(blobs: FileBlobStore) -> None:
    pending = [spool(blobs, f"message {i}".encode()) for i in range(20)]
    with ThreadPoolExecutor(4) as pool:
        blobs.make_durable(pending, pool)
    for p in pending:
        path = blobs.path(p.digest)
        assert path.parent.name == p.digest[:2]
        assert blobs.read(p.digest) == path.read_bytes()
        assert not p.path.exists()


def test_make_durable_keeps_an_existing_file(blobs: FileBlobStore) -> None:
    first = spool(blobs, b"same")
    blobs.make_durable([first], None)
    inode = blobs.path(first.digest).stat().st_ino
    second = spool(blobs, b"same")
    blobs.make_durable([second, second], None)
    assert blobs.path(first.digest).stat().st_ino == inode
    assert not second.path.exists()
    blobs.make_durable([second], None)  # a retry: already stored counts as done


def test_make_durable_of_a_vanished_blob_fails(blobs: FileBlobStore) -> None:
    pending = spool(blobs, b"gone")
    blobs.discard(pending)
    assert not pending.path.exists()
    with pytest.raises(StorageError, match="neither spooled nor stored"):
        blobs.make_durable([pending], None)
    blobs.discard(pending)  # twice is fine


def test_abort(blobs: FileBlobStore) -> None:
    writer = blobs.writer()
    writer.write(b"partial")
    writer.abort()
    writer.abort()
    assert list(_spool_files(blobs)) == []
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_abort_after_finish_keeps_the_blob(blobs: FileBlobStore) -> None:
    writer = blobs.writer()
    writer.write(b"done")
    pending = writer.finish()
    writer.abort()
    assert pending.path.exists()
    with pytest.raises(ValueError):
        writer.finish()


def test_foreign_pending_blobs_are_refused(blobs: FileBlobStore) -> None:
    class Foreign:
        digest = "0" * 64
        size = 0

    with pytest.raises(TypeError):
        blobs.make_durable([Foreign()], None)


def test_bad_digests_are_not_found(blobs: FileBlobStore) -> None:
    for digest in ("", "../../x", "A" * 64, "0" * 63):
        with pytest.raises(NotFound):
            blobs.path(digest)


def test_clean_temp_removes_only_what_dead_stores_left(data_dir: Path) -> None:
    dead = FileBlobStore(data_dir, memory_limit=0)
    left = spool(dead, b"never accepted")
    dead.close()  # its lock is released; the unfinished file remains

    live = FileBlobStore(data_dir, memory_limit=0)
    in_flight = spool(live, b"being accepted")
    loose = data_dir / "spool" / "tmp" / "loose"
    loose.write_bytes(b"x")

    cleaner = FileBlobStore(data_dir)
    try:
        assert cleaner.clean_temp() == 2
        assert not left.path.exists()
        assert not left.path.parent.exists()
        assert not loose.exists()
        assert in_flight.path.exists()
        assert cleaner.clean_temp() == 0
    finally:
        cleaner.close()
        live.close()


def test_close_removes_an_empty_temp_dir(data_dir: Path) -> None:
    blobs = FileBlobStore(data_dir)
    blobs.writer().abort()
    blobs.close()
    blobs.close()
    assert list((data_dir / "spool" / "tmp").iterdir()) == []


def _spool_files(blobs: FileBlobStore) -> list[Path]:
    return [p for p in blobs.spool.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_a_forked_child_writes_into_its_own_directory(blobs: FileBlobStore) -> None:
    parent = spool(blobs, b"parent")
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() with threads alive
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child: report where its blob went, never return into pytest
        try:
            os.write(write, str(spool(blobs, b"child").path).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = Path(pipe.read().decode())
    os.waitpid(pid, 0)
    assert child.parent != parent.path.parent
    assert child.read_bytes() == b"child"
    assert parent.path.read_bytes() == b"parent"


def test_small_blobs_share_one_pack_and_read_back(data_dir: Path) -> None:
    index: dict[str, object] = {}
    store = FileBlobStore(data_dir, locator=index.get)  # type: ignore[arg-type]
    try:
        contents = [b"first message\r\n", b"second\r\n" * 100, b"first message\r\n"]
        pending = [spool(store, c) for c in contents]
        assert all(p.data is not None and not p.path.exists() for p in pending)
        entries = store.make_durable(pending, None)
        assert len(entries) == 2  # the same content twice is written once
        assert len({e.pack for e in entries}) == 1
        packs = list((data_dir / "blobs" / "packs").rglob("*.pack"))
        assert len(packs) == 1 and packs[0].stat().st_size == len(contents[0]) + len(contents[1])
        index.update({e.digest: e for e in entries})
        for content in contents:
            digest = hashlib.sha256(content).hexdigest()
            assert store.read(digest) == content and store.exists(digest)
        with pytest.raises(NotFound):
            store.read(hashlib.sha256(b"never stored").hexdigest())
    finally:
        store.close()


def test_large_blobs_spill_to_their_own_file(data_dir: Path) -> None:
    store = FileBlobStore(data_dir, memory_limit=100)
    try:
        pending = spool(store, b"x" * 101)
        assert pending.data is None and pending.path.exists()
        assert store.make_durable([pending], None) == []
        assert store.path(pending.digest).read_bytes() == b"x" * 101
    finally:
        store.close()


@pytest.mark.parametrize("memory_limit", [0, 1 << 20])
def test_a_prefix_given_at_finish_goes_first(data_dir: Path, memory_limit: int) -> None:
    """Header fields known only at the end of a message (authentication results) go in front:
    the blob is prefix + content, hashed as such, whether it was spooled to a file or not."""
    store = FileBlobStore(data_dir, memory_limit=memory_limit)
    try:
        writer = store.writer()
        body = os.urandom(200_000)
        for i in range(0, len(body), 4096):
            writer.write(body[i : i + 4096])
        prefix = b"Authentication-Results: mx.example; spf=pass\r\n"
        pending = writer.finish(prefix)
        assert pending.digest == hashlib.sha256(prefix + body).hexdigest()
        assert pending.size == len(prefix) + len(body)
        assert isinstance(pending, SpooledBlob)
        stored = pending.data if pending.data is not None else pending.path.read_bytes()
        assert stored == prefix + body
        assert (pending.data is None) == (memory_limit == 0)
        assert not list((data_dir / "spool" / "tmp").rglob("*.p"))
    finally:
        store.close()
