"""A child process for the storage tests, run by path: python store_worker.py MODE ...

ids N                          print N new message ids
accept DATA_DIR TAG N BATCH    print "ready", wait for the file DATA_DIR/go, then accept
                               N messages for alice@example.org (and a relay recipient),
                               BATCH per accept; print "done"
loop DATA_DIR BATCH            accept forever; after each accept returns, print the ids
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from postoffice.message.envelope import Recipient
from postoffice.storage import Acceptance, PendingBlob, Store, StoredMessage, open_store
from postoffice.storage.ids import new_message_id


def make(store: Store, tag: str, n: int) -> tuple[PendingBlob, Acceptance]:
    writer = store.blobs.writer()
    now = time.time()
    message_id = new_message_id(now)
    writer.write(f"Subject: {tag} {n}\r\nMessage-Id: <{message_id}@test>\r\n\r\n".encode())
    writer.write(os.urandom(2000))
    pending = writer.finish()
    message = StoredMessage(
        message_id,
        pending.digest,
        pending.size,
        now,
        "smtp",
        "s@remote.example",
        "192.0.2.1",
        "remote.example",
        None,
    )
    acceptance = Acceptance(
        message, ("alice@example.org",), (Recipient(f"{tag}-{n}@remote.example"),)
    )
    return pending, acceptance


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "ids":
        sys.stdout.write("\n".join(new_message_id(time.time()) for _ in range(int(argv[1]))))
        return
    store = open_store(Path(argv[1]))
    try:
        if mode == "accept":
            tag, total, size = argv[2], int(argv[3]), int(argv[4])
            print("ready", flush=True)
            while not (Path(argv[1]) / "go").exists():
                time.sleep(0.001)
            for start in range(0, total, size):
                store.accept([make(store, tag, n) for n in range(start, min(total, start + size))])
            print("done", flush=True)
        elif mode == "loop":
            size, n = int(argv[2]), 0
            while True:
                batch = [make(store, "loop", n + i) for i in range(size)]
                n += size
                store.accept(batch)
                print(" ".join(a.message.id for _, a in batch), flush=True)
    finally:
        store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
