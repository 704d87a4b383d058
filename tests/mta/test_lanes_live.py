"""Priority lanes end to end: a transactional message does not wait behind a bulk backlog."""

import time
from pathlib import Path

from postoffice.message.envelope import Recipient
from postoffice.storage import Acceptance, StoredMessage, open_store
from postoffice.storage.ids import new_message_id
from postoffice.storage.interfaces import QueueFilter
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess

BACKLOG = 100_000
BATCH = 2_000


def seed_bulk(data: Path) -> None:
    """100,000 bulk messages, one recipient each, written straight into the store."""
    store = open_store(data)
    try:
        for start in range(0, BACKLOG, BATCH):
            batch = []
            for n in range(start, start + BATCH):
                writer = store.blobs.writer()
                writer.write(f"From: news@example.test\r\nSubject: bulk {n}\r\n\r\nnews\r\n".encode())
                pending = writer.finish()
                now = time.time()
                message = StoredMessage(new_message_id(now), pending.digest, pending.size, now,
                                        "api", "news@example.test", "127.0.0.1", "local", None)
                relay = (Recipient(f"r{n}@remote.example"),)
                batch.append((pending, Acceptance(message, (), relay, lane="bulk")))
            store.accept(batch)
        assert len(store.list_queue(limit=BACKLOG + 1, where=QueueFilter(lane="bulk"))) == BACKLOG
    finally:
        store.close()


def test_transactional_starts_within_a_second_under_a_bulk_backlog(tmp_path: Path) -> None:
    slow = Script(delay={"FINAL": 0.2})  # the destination is slow: bulk sessions stay busy
    with ScriptedSmtp(slow) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data", config={
            "delivery": {"smarthost": f"{host}:{port}", "max_connections": 4,
                         "messages_per_connection": 100},
        })
        server.init()
        server.add_user("bob@example.test", "pw-lanes")
        seed_bulk(tmp_path / "data")
        server.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and sum(len(s.commands) for s in peer.sessions) < 20:
                time.sleep(0.05)  # bulk is flowing
            with server.submission("bob@example.test", "pw-lanes") as client:
                client.sendmail("bob@example.test", ["reset@remote.example"],
                                b"From: bob@example.test\r\nSubject: password reset\r\n\r\nx\r\n")
                accepted = time.monotonic()

            def transactional_arrived() -> bool:
                return any(b"password reset" in m.content for s in peer.sessions for m in s.messages)

            while not transactional_arrived() and time.monotonic() - accepted < 10:
                time.sleep(0.01)
            started = time.monotonic() - accepted
            bulk_sent = sum(1 for s in peer.sessions for m in s.messages if b"Subject: bulk" in m.content)
        finally:
            server.stop()
    # Delivery started (and here, with a 0.2 s final reply, even finished) within a second.
    assert transactional_arrived() and started < 1.0, f"took {started:.2f} s"
    assert bulk_sent > 0  # bulk was being delivered all along, slowed but not starved
