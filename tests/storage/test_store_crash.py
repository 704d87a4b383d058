"""Crash safety: a process accepting in a loop is SIGKILLed at random moments.

After reopening, every acceptance the child reported (it prints the ids after `accept`
returns) is there exactly once with a complete blob, uids have no gaps, every file under
blobs/ holds the content its name promises, and what the child left in spool/tmp is gone.
(SIGKILL keeps the page cache: this checks ordering and atomicity, not power-loss durability.)
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from postoffice.storage import Store, open_store
from postoffice.storage.ids import LENGTH

WORKER = Path(__file__).with_name("store_worker.py")


def _run_and_kill(
    data_dir: Path, batch: int, lines_before_kill: int, rng: random.Random
) -> set[str]:
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "loop", str(data_dir), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    reported: set[str] = set()
    try:
        assert proc.stdout is not None
        for _ in range(lines_before_kill):
            line = proc.stdout.readline()
            assert line, "the child died on its own"
            reported.update(line.split())
        time.sleep(rng.uniform(0, 0.004))  # land somewhere inside the next accept
        proc.send_signal(signal.SIGKILL)
        for line in proc.stdout:  # lines written before it died count as reported
            reported.update(i for i in line.split() if len(i) == LENGTH)
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return reported


def _check(store: Store, data_dir: Path, reported: set[str]) -> None:
    queue = store.list_queue(limit=1_000_000)
    entries = store.list_mailbox("alice@example.org")
    in_queue = Counter(q.message_id for q in queue)
    in_inbox = Counter(e.message_id for e in entries)
    for message_id in reported:
        assert store.get_message(message_id) is not None, message_id
        assert in_queue[message_id] == 1
        assert in_inbox[message_id] == 1
    # Every committed message (reported or not) is whole: one queue row, one INBOX entry.
    assert set(in_queue) == set(in_inbox)
    assert all(n == 1 for n in in_queue.values())
    assert [e.uid for e in entries] == list(range(1, len(entries) + 1))
    for message_id in in_queue:
        message = store.get_message(message_id)
        assert message is not None
        content = store.blobs.read(message.blob)
        assert hashlib.sha256(content).hexdigest() == message.blob
        assert len(content) == message.size
    # Files under blobs/<hh>/ are complete (orphans included); every indexed packed blob
    # reads back whole; nothing in spool/tmp survives.
    for path in (data_dir / "blobs").rglob("*"):
        if path.is_file() and "packs" not in path.parts:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    for digest in store.iter_blob_refs():
        assert hashlib.sha256(store.blobs.read(digest)).hexdigest() == digest
    spool = data_dir / "spool" / "tmp"
    assert [p for p in spool.iterdir() if not p.name.endswith(".lock")] == []


def test_sigkill_during_accept_loses_nothing_reported(data_dir: Path) -> None:
    with contextlib.closing(open_store(data_dir)) as store:
        store.add_domain("example.org")
        store.add_user("alice@example.org", "hash")
    rng = random.Random()
    reported: set[str] = set()
    for round_ in range(4):
        reported |= _run_and_kill(data_dir, batch=1 + round_ * 3, lines_before_kill=10, rng=rng)
        assert any(p.is_dir() for p in (data_dir / "spool" / "tmp").iterdir())  # the child's
        with contextlib.closing(open_store(data_dir)) as store:
            _check(store, data_dir, reported)
    assert len(reported) >= 40
