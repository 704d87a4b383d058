"""Several worker processes: shared sockets, restart of a dead worker, one server per data dir."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from postoffice.storage import open_store
from postoffice.testing.server import ServerProcess


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def send(server: ServerProcess, count: int, tag: str) -> None:
    for n in range(count):
        with server.mx() as client:  # a new connection each time: spread over the workers
            client.sendmail("a@remote.example", ["bob@example.test"],
                            f"Subject: {tag} {n}\r\n\r\nhi\r\n".encode())


def inbox_size(data: Path) -> int:
    store = open_store(data)
    try:
        return len(store.list_mailbox("bob@example.test"))
    finally:
        store.close()


def listening(pid: int) -> bool:
    """Whether the process holds a listening TCP socket (a listener worker does, a delivery
    process closes them all)."""
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True)
    return f"pid={pid}," in out.stdout


def test_a_dead_worker_is_replaced_and_mail_keeps_flowing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", config={"server": {"workers": 2}})
    server.init()
    server.add_user("bob@example.test", "pw-workers")
    server.start()
    try:
        assert server.process is not None
        deadline = time.monotonic() + 10
        while len(procs := children(server.process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(procs) == 3  # two listener workers and one delivery process
        workers = [p for p in procs if listening(p)]
        assert len(workers) == 2
        send(server, 10, "before")
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(set(children(server.process.pid)) - {workers[0]}) < 3:
            time.sleep(0.1)
        replaced = children(server.process.pid)
        assert len(replaced) == 3 and workers[0] not in replaced
        assert len([p for p in replaced if listening(p)]) == 2
        send(server, 20, "after")
        assert inbox_size(tmp_path / "data") == 30
        assert "restarting it" in server.log_text()
    finally:
        assert server.stop() == 0


def test_a_dead_delivery_process_is_replaced(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.init()
    server.start()
    try:
        assert server.process is not None
        deadline = time.monotonic() + 10
        while len(procs := children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        engines = [p for p in procs if not listening(p)]
        assert len(procs) == 2 and len(engines) == 1
        os.kill(engines[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(set(children(server.process.pid)) - {engines[0]}) < 2:
            time.sleep(0.1)
        assert "delivery 0 (pid" in server.log_text() and "restarting it" in server.log_text()
        assert len([p for p in children(server.process.pid) if not listening(p)]) == 1
    finally:
        assert server.stop() == 0


def test_children_die_with_the_supervisor(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", config={"server": {"workers": 2}})
    server.init()
    server.start()
    assert server.process is not None
    deadline = time.monotonic() + 10
    while len(procs := children(server.process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(procs) == 3
    server.process.kill()  # the supervisor alone, as the OOM killer would
    server.process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_exists(p) for p in procs):
        time.sleep(0.05)
    assert not any(_exists(p) for p in procs), "orphaned workers kept running"
    server.start()  # the data directory is free again
    assert server.stop() == 0


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_one_server_per_data_directory(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.init()
    server.start()
    try:
        second = subprocess.run([sys.executable, "-m", "postoffice", "serve", "--data", str(tmp_path / "data")],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "another postoffice serve" in second.stderr and second.stderr.count("\n") == 1
    finally:
        server.stop()
