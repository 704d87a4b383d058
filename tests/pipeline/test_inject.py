"""Messages postoffice makes itself take the same durable path as mail from the network."""

import asyncio
from pathlib import Path

from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.message.envelope import Recipient
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.intake import Intake
from postoffice.storage import open_store
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import Store


def _call(store: Store, method: str, *args: object) -> object:
    return getattr(store, method)(*args)


def test_inject_delivers_locally_and_queues_remote(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    store.add_domain("example.test")
    store.add_user("bob@example.test", "x")
    store.close()

    async def main() -> str:
        committer = GroupCommitter(lambda: open_store(data))
        committer.start()
        try:
            intake = Intake(
                config=Config(data_dir=data), clock=SYSTEM_CLOCK, blobs=committer.blobs,
                directory=DirectoryCache(lambda m, *a: committer.run(_call, m, *a)),
                commit=committer.commit,
            )
            return await intake.inject(
                b"From: MAILER-DAEMON@mx.test\r\nSubject: notice\r\n\r\nbody\r\n", mail_from="",
                local=("bob@example.test",), relay=(Recipient("x@remote.example"),), source="dsn",
            )
        finally:
            await committer.close()

    queue_id = asyncio.run(main())
    store = open_store(data)
    try:
        entry = store.list_mailbox("bob@example.test")[-1]
        assert entry.message_id == queue_id
        assert store.blobs.read(entry.blob).endswith(b"Subject: notice\r\n\r\nbody\r\n")
        item = store.list_queue()[0]
        assert (item.message_id, item.recipient, item.mail_from) == (queue_id, "x@remote.example", "")
        message = store.get_message(queue_id)
        assert message is not None and message.source == "dsn"
    finally:
        store.close()
