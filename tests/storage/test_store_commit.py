"""GroupCommitter: batching, error routing, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from postoffice.storage import (
    Acceptance,
    NotFound,
    PendingBlob,
    StorageError,
    Store,
    open_store,
)
from postoffice.storage.blobs import FileBlobStore
from postoffice.storage.commit import GroupCommitter

if TYPE_CHECKING:
    from conftest import Mail


class FlakyStore:
    """Delegates to a real store; `accept` waits for `gate`, and fails while `failing` is set."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.thread: threading.Thread | None = None
        self.batch_sizes: list[int] = []

    def accept(self, batch: Sequence[tuple[PendingBlob, Acceptance]]) -> None:
        self.thread = threading.current_thread()
        self.batch_sizes.append(len(batch))
        self.entered.set()
        self.gate.wait(10)
        if self.failing:
            raise StorageError("disk on fire")
        self.inner.accept(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def setup(data_dir: Path) -> None:
    with contextlib.closing(open_store(data_dir)) as store:
        store.add_domain("example.org")
        store.add_user("alice@example.org", "hash")


@pytest.fixture
def spool(data_dir: Path) -> Iterator[FileBlobStore]:
    """Writes blobs the way the SMTP sessions do: its own BlobStore, open while they are
    in flight (a closed one's temporary files are removed by the next clean_temp)."""
    blobs = FileBlobStore(data_dir)
    yield blobs
    blobs.close()


def _prepare(
    spool: FileBlobStore, make_mail: type[Mail], n: int, local: str = "alice@example.org"
) -> list[tuple[PendingBlob, Acceptance]]:
    """n finished blobs with their acceptances."""
    mail = make_mail(types.SimpleNamespace(blobs=spool))
    items = []
    for i in range(n):
        pending = mail.blob()
        items.append((pending, mail.acceptance(pending, [local], [f"r{i}@remote.example"])))
    return items


@pytest.mark.usefixtures("setup")
def test_concurrent_commits_share_batches(
    data_dir: Path, spool: FileBlobStore, make_mail: type[Mail]
) -> None:
    items = _prepare(spool, make_mail, 300)

    async def main() -> GroupCommitter:
        committer = GroupCommitter(lambda: open_store(data_dir), max_batch=64)
        committer.start()
        await asyncio.gather(*(committer.commit(p, a) for p, a in items))
        await committer.close()
        return committer

    stats = asyncio.run(main()).stats
    assert stats.acceptances == 300
    assert stats.batches < 300
    assert 1 < stats.largest_batch <= 64
    with contextlib.closing(open_store(data_dir)) as store:
        assert len(store.list_mailbox("alice@example.org")) == 300
        assert len(store.list_queue()) == 300


@pytest.mark.usefixtures("setup")
def test_an_acceptance_error_goes_to_its_caller_only(
    data_dir: Path, spool: FileBlobStore, make_mail: type[Mail]
) -> None:
    blocker, *good = _prepare(spool, make_mail, 21)
    (bad,) = _prepare(spool, make_mail, 1, local="nobody@example.org")
    stores: list[FlakyStore] = []

    def factory() -> Store:
        stores.append(FlakyStore(open_store(data_dir)))
        return stores[0]

    async def main() -> list[BaseException | None]:
        committer = GroupCommitter(factory)
        committer.start()
        store = stores[0]
        try:
            store.gate.clear()  # the first commit holds the thread while the others queue up
            first = asyncio.ensure_future(committer.commit(*blocker))
            await asyncio.to_thread(store.entered.wait, 10)
            jobs = [committer.commit(p, a) for p, a in good[:10] + [bad] + good[10:]]
            rest = asyncio.gather(*jobs, return_exceptions=True)
            await asyncio.sleep(0.01)
            store.gate.set()
            await first
            return await rest
        finally:
            await committer.close()

    results = asyncio.run(main())
    # The blocker alone, the 21 others together (failed), then the 21 one by one.
    assert stores[0].batch_sizes == [1, 21] + [1] * 21
    assert isinstance(results[10], NotFound)
    assert [r for i, r in enumerate(results) if i != 10] == [None] * 20
    assert not bad[0].path.exists()  # type: ignore[attr-defined]  # discarded by the committer
    with contextlib.closing(open_store(data_dir)) as store:
        assert len(store.list_mailbox("alice@example.org")) == 21


@pytest.mark.usefixtures("setup")
def test_a_store_error_fails_the_whole_batch(
    data_dir: Path, spool: FileBlobStore, make_mail: type[Mail]
) -> None:
    items = _prepare(spool, make_mail, 10)
    flaky: list[FlakyStore] = []

    def factory() -> Store:
        flaky.append(FlakyStore(open_store(data_dir)))
        return flaky[0]

    async def main() -> list[BaseException | None]:
        committer = GroupCommitter(factory)
        committer.start()
        try:
            flaky[0].failing = True
            failed = await asyncio.gather(
                *(committer.commit(p, a) for p, a in items[:5]), return_exceptions=True
            )
            flaky[0].failing = False
            await asyncio.gather(*(committer.commit(p, a) for p, a in items[5:]))
            return failed
        finally:
            await committer.close()

    failed = asyncio.run(main())
    assert all(isinstance(r, StorageError) and "disk on fire" in str(r) for r in failed)
    assert flaky[0].thread is not threading.main_thread()
    with contextlib.closing(open_store(data_dir)) as store:
        assert len(store.list_mailbox("alice@example.org")) == 5


@pytest.mark.usefixtures("setup")
def test_run_uses_the_store_thread(data_dir: Path) -> None:
    async def main() -> tuple[bool, str, str]:
        committer = GroupCommitter(lambda: open_store(data_dir))
        committer.start()
        try:
            local = await committer.run(lambda s, d: s.is_local_domain(d), "Example.org")
            user = await committer.run(lambda s: s.get_user("alice@example.org"))
            thread = await committer.run(lambda _s: threading.current_thread().name)
            with pytest.raises(NotFound):
                await committer.run(lambda s: s.remove_user("nobody@example.org"))
            assert user is not None
            return local, user.address, thread
        finally:
            await committer.close()

    assert asyncio.run(main()) == (True, "alice@example.org", "postoffice-store")


@pytest.mark.usefixtures("setup")
def test_close_finishes_pending_work(
    data_dir: Path, spool: FileBlobStore, make_mail: type[Mail]
) -> None:
    items = _prepare(spool, make_mail, 50)

    async def main() -> None:
        committer = GroupCommitter(lambda: open_store(data_dir), max_batch=8)
        committer.start()
        tasks = [asyncio.create_task(committer.commit(p, a)) for p, a in items]
        await asyncio.sleep(0)  # every commit is queued
        await committer.close()
        await asyncio.gather(*tasks)
        with pytest.raises(StorageError, match="closed"):
            await committer.commit(*items[0])
        with pytest.raises(StorageError, match="closed"):
            await committer.run(lambda s: s.list_domains())

    asyncio.run(main())
    with contextlib.closing(open_store(data_dir)) as store:
        assert len(store.list_mailbox("alice@example.org")) == 50


def test_start_reports_a_failing_factory() -> None:
    def factory() -> Store:
        raise StorageError("cannot open")

    committer = GroupCommitter(factory)
    with pytest.raises(StorageError, match="cannot open"):
        committer.start()


def test_commit_before_start_fails() -> None:
    committer = GroupCommitter(lambda: None)  # type: ignore[arg-type,return-value]

    async def main() -> None:
        with pytest.raises(StorageError):
            await committer.run(lambda s: s)

    asyncio.run(main())


@pytest.mark.usefixtures("setup")
def test_commit_many_splits_into_bounded_batches_singles_first(
    data_dir: Path, spool: FileBlobStore, make_mail: type[Mail]
) -> None:
    blocker, *bulk = _prepare(spool, make_mail, 11)
    (bad,) = _prepare(spool, make_mail, 1, local="nobody@example.org")
    (single,) = _prepare(spool, make_mail, 1)
    stores: list[FlakyStore] = []

    def factory() -> Store:
        stores.append(FlakyStore(open_store(data_dir)))
        return stores[0]

    async def main() -> tuple[list[Exception | None], None]:
        committer = GroupCommitter(factory, max_batch=4)
        committer.start()
        store = stores[0]
        try:
            store.gate.clear()
            first = asyncio.ensure_future(committer.commit(*blocker))
            await asyncio.to_thread(store.entered.wait, 10)
            many = asyncio.ensure_future(committer.commit_many(bulk[:5] + [bad] + bulk[5:]))
            await asyncio.sleep(0.01)
            one = asyncio.ensure_future(committer.commit(*single))  # queued after the bulk job
            await asyncio.sleep(0.01)
            store.gate.set()
            await first
            return await many, await one
        finally:
            await committer.close()

    errors, _ = asyncio.run(main())
    # The blocker; the single send first with 3 of the bulk job; then 4 (with the bad one:
    # retried one by one); then the last 4.
    assert stores[0].batch_sizes == [1, 4, 4, 1, 1, 1, 1, 4]
    assert isinstance(errors[5], NotFound)
    assert [e for i, e in enumerate(errors) if i != 5] == [None] * 10
    assert not bad[0].path.exists()  # type: ignore[attr-defined]
    with contextlib.closing(open_store(data_dir)) as store:
        assert len(store.list_mailbox("alice@example.org")) == 12
