"""kill -9 the server while clients stream messages: every 250 survives, exactly once."""

import hashlib
import re
import smtplib
import threading
import time
from pathlib import Path

from postoffice.storage import open_store
from postoffice.testing.server import ServerProcess


def sender(server: ServerProcess, worker: int, acked: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set() and n < 2000:
        try:
            with server.mx(timeout=5) as client:
                while not stop.is_set() and n < 2000:
                    token = f"w{worker}-m{n}"
                    n += 1
                    body = f"Subject: {token}\r\n\r\n{token}\r\n" + "x" * 2000 + "\r\nEND\r\n"
                    client.sendmail("load@remote.example", ["crash@example.test"], body.encode())
                    acked.append(token)  # only after the 250
        except (OSError, smtplib.SMTPException):
            return


def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.init()
    server.add_user("crash@example.test", "pw-crash-test")
    server.start()
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=sender, args=(server, i, acked, stop)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 50, "the load did not get going"

    server.start()  # restart on the same data: recovery runs
    server.stop()
    store = open_store(tmp_path / "data")
    try:
        contents = [(e.blob, store.blobs.read(e.blob)) for e in store.list_mailbox("crash@example.test")]
    finally:
        store.close()
    seen: dict[str, int] = {}
    for digest, content in contents:
        assert hashlib.sha256(content).hexdigest() == digest, "a visible blob is half-written"
        assert content.endswith(b"\r\nEND\r\n")
        token = re.search(rb"Subject: (w\d+-m\d+)", content)
        assert token is not None
        seen[token.group(1).decode()] = seen.get(token.group(1).decode(), 0) + 1
    missing = [t for t in acked if t not in seen]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
    duplicated = [t for t, count in seen.items() if count > 1]
    assert not duplicated, f"delivered more than once: {duplicated[:5]}"
