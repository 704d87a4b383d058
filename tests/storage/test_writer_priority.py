"""Urgent writers (single sends) go before the others waiting for the writer lock."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from postoffice.storage import open_store
from postoffice.storage.sqlite import SqliteStore


@pytest.mark.parametrize("arrivals", [("urgent", "bulk"), ("bulk", "urgent")],
                         ids=["urgent-first", "bulk-first"])
def test_an_urgent_writer_goes_before_other_waiting_writers(
        tmp_path: Path, arrivals: tuple[str, str]) -> None:
    """Also before a writer that was queued on the lock already: at the end of the
    transaction in progress, the urgent one goes next."""
    order: list[str] = []
    opened = threading.Barrier(4)
    held, release = threading.Event(), threading.Event()
    go = {"urgent": threading.Event(), "bulk": threading.Event()}

    def hold() -> None:
        with contextlib.closing(open_store(tmp_path)) as store:
            assert isinstance(store, SqliteStore)
            opened.wait(10)
            with store._transaction():
                held.set()
                release.wait(10)

    def write(name: str) -> None:
        with contextlib.closing(open_store(tmp_path, urgent=name == "urgent")) as store:
            opened.wait(10)
            go[name].wait(10)
            store.add_domain(f"{name}.example")
            order.append(name)

    open_store(tmp_path).close()  # migrated before the threads open theirs
    threads = [threading.Thread(target=hold), *(threading.Thread(target=write, args=(name,))
                                                 for name in go)]
    for thread in threads:
        thread.start()
    opened.wait(10)
    assert held.wait(10)
    for name in arrivals:  # each waiting for the lock before the next one comes
        go[name].set()
        time.sleep(0.3)
    assert order == []
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["urgent", "bulk"]
