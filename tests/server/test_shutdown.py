"""SIGTERM finishes transactions in flight, tells idle sessions 421, and exits cleanly."""

import signal
import socket
import time
from pathlib import Path

from postoffice.testing.server import ServerProcess


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or data.split(b"\r\n")[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_lets_the_transaction_finish(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.init()
    server.add_user("bob@example.test", "pw-shutdown")
    server.start()
    host, port = server.address("smtp")
    busy = socket.create_connection((host, port), timeout=10)
    idle = socket.create_connection((host, port), timeout=10)
    assert read_reply(busy).startswith(b"220 ") and read_reply(idle).startswith(b"220 ")
    for command in (b"EHLO c\r\n", b"MAIL FROM:<a@remote.example>\r\n",
                    b"RCPT TO:<bob@example.test>\r\n", b"DATA\r\n"):
        busy.sendall(command)
        assert read_reply(busy)[:1] in (b"2", b"3")
    busy.sendall(b"Subject: in flight\r\n\r\nfirst half\r\n")
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert read_reply(idle).startswith(b"421 4.3.2")
    time.sleep(0.3)
    busy.sendall(b"second half\r\n.\r\n")
    assert read_reply(busy).startswith(b"250 2.0.0")
    busy.sendall(b"QUIT\r\n")
    busy.close()
    idle.close()
    assert server.process.wait(20) == 0
    out = server.log_text()
    assert "Traceback" not in out
    from postoffice.storage import open_store

    store = open_store(tmp_path / "data")
    try:
        assert len(store.list_mailbox("bob@example.test")) == 1
    finally:
        store.close()


def test_sigterm_right_after_start_is_a_clean_stop(tmp_path: Path) -> None:
    for workers in (1, 2):
        server = ServerProcess(tmp_path / f"data{workers}", config={"server": {"workers": workers}})
        server.init()
        server.start()
        assert server.stop() == 0, server.log_text()
        assert not (tmp_path / f"data{workers}" / "run" / "listeners.json").exists()
