"""Several stores on one data directory: threads and processes accepting at once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from postoffice.storage import Store, open_store

if TYPE_CHECKING:
    from conftest import Backend, Mail

WORKER = Path(__file__).with_name("store_worker.py")


def _setup(store: Store) -> None:
    store.add_domain("example.org")
    store.add_user("alice@example.org", "hash")


def _check_all_there(store: Store, expected: int) -> None:
    queue = store.list_queue(limit=10 * expected)
    assert len(queue) == expected
    assert len({q.recipient for q in queue}) == expected
    entries = store.list_mailbox("alice@example.org")
    assert [e.uid for e in entries] == list(range(1, expected + 1))
    assert len({e.message_id for e in entries}) == expected
    assert store.list_folders("alice@example.org")[0].uidnext == expected + 1


def test_two_stores_in_two_threads(backend: Backend, make_mail: type[Mail]) -> None:
    _setup(backend.open())
    per_thread, batch = 60, 4
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(tag: str) -> None:
        store = backend.open()  # a store is used by the thread that opened it
        try:
            mail = make_mail(store)
            start.wait()
            for n in range(0, per_thread, batch):
                items = []
                for i in range(n, n + batch):
                    pending = mail.blob()
                    relay = [f"{tag}-{i}@remote.example"]
                    items.append((pending, mail.acceptance(pending, ["alice@example.org"], relay)))
                store.accept(items)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(tag,)) for tag in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_all_there(backend.open(), 2 * per_thread)


def test_two_processes(data_dir: Path) -> None:
    with contextlib.closing(open_store(data_dir)) as store:
        _setup(store)
    per_process = 150
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "accept", str(data_dir), tag, str(per_process), "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("p1", "p2")
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    (data_dir / "go").touch()  # both start accepting at once
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "done"
    with contextlib.closing(open_store(data_dir)) as store:
        _check_all_there(store, 2 * per_process)
