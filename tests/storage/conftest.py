"""Fixtures for the storage contract suite.

Every test taking `store` (or `backend`) runs against each backend in BACKENDS. To add one
(PostgreSQL), add a Backend subclass whose `open()` returns a new Store on the same database
and list it in BACKENDS; tests that need a data directory or files use the `sqlite` fixtures.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from postoffice.message.envelope import Recipient
from postoffice.storage import Acceptance, PendingBlob, Store, StoredMessage, open_store
from postoffice.storage.ids import new_message_id


class Backend:
    """Opens stores on one shared location; closes them all at the end of the test."""

    name = "abstract"

    def __init__(self) -> None:
        self.opened: list[Store] = []

    def open(self) -> Store:
        store = self._open()
        self.opened.append(store)
        return store

    def _open(self) -> Store:
        raise NotImplementedError

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


class SqliteBackend(Backend):
    name = "sqlite"

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir

    def _open(self) -> Store:
        return open_store(self.data_dir)


BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        b: Backend = SqliteBackend(tmp_path / "data")
    else:  # pragma: no cover - future backends
        raise ValueError(request.param)
    try:
        yield b
    finally:
        b.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Mail:
    """Builds blobs and acceptances for tests."""

    _counter = itertools.count()

    def __init__(self, store: Store) -> None:
        self.store = store

    def blob(self, data: bytes | None = None, chunks: int = 3) -> PendingBlob:
        data = data if data is not None else self.content()
        writer = self.store.blobs.writer()
        step = max(1, len(data) // chunks)
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
        return writer.finish()

    def content(self) -> bytes:
        n = next(self._counter)
        return f"Subject: test {n} {time.time_ns()}\r\n\r\nbody {n}\r\n".encode()

    def acceptance(
        self,
        pending: PendingBlob,
        local: Sequence[str] = (),
        relay: Sequence[str | Recipient] = (),
        *,
        message_id: str | None = None,
        lane: str = "transactional",
        tenant: str = "default",
        **fields: object,
    ) -> Acceptance:
        now = time.time()
        values: dict[str, object] = {
            "id": message_id or new_message_id(now),
            "blob": pending.digest,
            "size": pending.size,
            "received_at": now,
            "source": "smtp",
            "mail_from": "sender@remote.example",
            "client_ip": "192.0.2.1",
            "helo": "mx.remote.example",
            "auth_identity": None,
        }
        values.update(fields)
        return Acceptance(
            message=StoredMessage(**values),  # type: ignore[arg-type]
            local=tuple(local),
            relay=tuple(r if isinstance(r, Recipient) else Recipient(r) for r in relay),
            lane=lane,
            tenant=tenant,
        )

    def accept(
        self, local: Sequence[str] = (), relay: Sequence[str | Recipient] = (), **fields: Any
    ) -> Acceptance:
        """One message accepted alone; returns its acceptance."""
        pending = self.blob()
        acceptance = self.acceptance(pending, local, relay, **fields)
        self.store.accept([(pending, acceptance)])
        return acceptance


@pytest.fixture
def mail(store: Store) -> Mail:
    return Mail(store)


@pytest.fixture
def mailbox(store: Store) -> Store:
    """The store with domain example.org and users alice@ and bob@ in it."""
    store.add_domain("example.org")
    store.add_user("alice@example.org", "hash-a")
    store.add_user("bob@example.org", "hash-b")
    return store


@pytest.fixture
def make_mail() -> type[Mail]:
    """The Mail class, for tests that build mail for several stores."""
    return Mail
