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


def test_a_dead_worker_is_replaced_and_mail_keeps_flowing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", config={"server": {"workers": 2}})
    server.init()
    server.add_user("bob@example.test", "pw-workers")
    server.start()
    try:
        assert server.process is not None
        deadline = time.monotonic() + 10
        while len(workers := children(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        send(server, 10, "before")
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(set(children(server.process.pid)) - {workers[0]}) < 2:
            time.sleep(0.1)
        replaced = children(server.process.pid)
        assert len(replaced) == 2 and workers[0] not in replaced
        send(server, 20, "after")
        assert inbox_size(tmp_path / "data") == 30
        assert "restarting it" in server.log_text()
    finally:
        assert server.stop() == 0


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
