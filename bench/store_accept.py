"""Acceptance throughput of the embedded store (not a test; run by hand):

    .venv/bin/python bench/store_accept.py [--dir /path/on/the/target/fs]

Part 1 times Store.accept alone, with the blobs written beforehand, in batches of 1, 50
and 256. Part 2 drives a GroupCommitter from C concurrent asyncio "sessions" and shows
the batch sizes that form by themselves. Each message: ~3 KB, one local and one relay
recipient.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

from postoffice.message.envelope import Recipient
from postoffice.storage import Acceptance, PendingBlob, StoredMessage, open_store
from postoffice.storage.blobs import FileBlobStore
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.ids import new_message_id

Item = tuple[PendingBlob, Acceptance]


def prepare(blobs: FileBlobStore, count: int) -> tuple[list[Item], float]:
    """count finished blobs with acceptances; also the time per blob written."""
    body = os.urandom(3000)
    items: list[Item] = []
    started = time.perf_counter()
    for n in range(count):
        writer = blobs.writer()
        writer.write(b"Subject: bench %d\r\n\r\n" % n)
        writer.write(body)
        pending = writer.finish()
        now = time.time()
        message = StoredMessage(
            new_message_id(now), pending.digest, pending.size, now, "smtp",
            "sender@remote.example", "192.0.2.1", "remote.example", None,
        )  # fmt: skip
        acceptance = Acceptance(
            message, (f"user{n % 10}@example.org",), (Recipient("rcpt@remote.example"),)
        )
        items.append((pending, acceptance))
    return items, (time.perf_counter() - started) / count


def setup(data_dir: Path) -> None:
    with contextlib.closing(open_store(data_dir)) as store:
        store.add_domain("example.org")
        for i in range(10):
            store.add_user(f"user{i}@example.org", "x")


def bench_accept(base: Path, batch: int, total: int) -> None:
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        data_dir = Path(tmp)
        setup(data_dir)
        with contextlib.closing(open_store(data_dir)) as store:
            blobs = FileBlobStore(data_dir)
            items, write_cost = prepare(blobs, total)
            started = time.perf_counter()
            for i in range(0, total, batch):
                store.accept(items[i : i + batch])
            elapsed = time.perf_counter() - started
            blobs.close()
    print(
        f"accept, batch {batch:3}: {total / elapsed:7.0f} acceptances/s"
        f"  ({elapsed / (total / batch) * 1000:6.2f} ms per batch;"
        f" writing a blob took {write_cost * 1e6:.0f} us)"
    )


async def bench_committer(base: Path, sessions: int, per_session: int) -> None:
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        data_dir = Path(tmp)
        setup(data_dir)
        blobs = FileBlobStore(data_dir)
        items, _ = prepare(blobs, sessions * per_session)
        committer = GroupCommitter(lambda: open_store(data_dir))
        committer.start()

        async def session(k: int) -> None:
            for pending, acceptance in items[k * per_session : (k + 1) * per_session]:
                await committer.commit(pending, acceptance)

        started = time.perf_counter()
        await asyncio.gather(*(session(k) for k in range(sessions)))
        elapsed = time.perf_counter() - started
        await committer.close()
        blobs.close()
        stats = committer.stats
        print(
            f"committer, {sessions:3} sessions: {stats.acceptances / elapsed:7.0f} commits/s"
            f"  (mean batch {stats.acceptances / stats.batches:.1f}, largest {stats.largest_batch})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to make the data dirs")
    args = parser.parse_args()
    for batch, total in ((1, 2000), (50, 20000), (256, 20480)):
        bench_accept(args.dir, batch, total)
    for sessions in (1, 50, 200):
        asyncio.run(bench_committer(args.dir, sessions, max(20, 8000 // sessions)))


if __name__ == "__main__":
    main()
