"""GroupCommitter: the asyncio side of the durable hot path.

One dedicated thread owns a Store (SQLite connections are per thread). Sessions call
`await commit(pending, acceptance)`; the thread takes everything that queued up while it was
busy as the next batch (up to `max_batch`) and makes it durable with one `Store.accept`: one
WAL fsync and one round of file fsyncs for the whole batch. No timer: under light load a batch
is a single message and commits at once; under heavy load batches grow by themselves.

Outcomes: when the batch fails for a reason of one acceptance (NotFound: a mailbox removed
since RCPT; AlreadyExists; ValueError), the thread retries the batch's acceptances one by one so
each caller gets its own answer. Any other StorageError (disk, database) fails the whole batch;
every caller gets it and answers 451 4.3.0. The temporary files of acceptances that failed are
discarded by the committer: after `commit()` is called the pending blob belongs to it.

A caller cancelled while waiting does not withdraw its acceptance: it may still be committed.

`commit_many(items)` hands over many acceptances as one job (a chunk of an API batch): they go
into the same group commits as the rest, and the caller gets each one's outcome. A batch holds
at most `max_batch` acceptances (a job is split over several when needed: each acceptance is
durable when its own commit is), and jobs of one acceptance go first: a single send never waits
behind a queue of bulk chunks, only behind the commit in progress.

`run(fn, *args)` runs any other Store call on the same thread, so lookups never block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from postoffice.storage.interfaces import (
    Acceptance,
    AlreadyExists,
    BlobStore,
    NotFound,
    PendingBlob,
    StorageError,
    Store,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_ITEM_ERRORS = (NotFound, AlreadyExists, ValueError, TypeError)
"""Errors caused by one acceptance rather than by the store: worth retrying the others."""


@dataclass(frozen=True)
class CommitStats:
    batches: int
    """Store.accept calls that committed (retries of single acceptances included)."""
    acceptances: int
    """Acceptances committed."""
    largest_batch: int


@dataclass(eq=False)
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


@dataclass(eq=False)
class _Commit(_Job):
    items: list[tuple[PendingBlob, Acceptance]]
    many: bool
    """From commit_many: the result is the list of each item's error (None: committed)."""
    errors: list[Exception | None]
    left: int
    """Items not yet settled (a job split over several batches)."""


@dataclass(eq=False)
class _Call(_Job):
    fn: Callable[[Store], Any]


class GroupCommitter:
    def __init__(
        self,
        store_factory: Callable[[], Store],
        *,
        max_batch: int = 64,
        name: str = "postoffice-store",
    ) -> None:
        """`max_batch`: acceptances per transaction at most. Larger batches cost fewer
        fsyncs, but every writer of every process waits for the transaction holding the
        writer lock: 64 keep it to a few milliseconds (a single send waits for one)."""
        self._factory = store_factory
        self._max_batch = max_batch
        self._name = name
        self._cond = threading.Condition()
        self._commits: deque[_Commit] = deque()
        self._calls: deque[_Call] = deque()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._store: Store | None = None
        self._start_error: BaseException | None = None
        self._batches = self._acceptances = self._largest = 0

    # lifecycle

    def start(self) -> None:
        """Start the thread and open the store on it; raises what the store factory raised."""
        if self._thread is not None:
            raise RuntimeError("GroupCommitter already started")
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error

    async def close(self) -> None:
        """Finish every pending commit and call, then close the store."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    @property
    def blobs(self) -> BlobStore:
        """The store's BlobStore, for writing message content on the event loop."""
        if self._store is None:
            raise RuntimeError("GroupCommitter not started")
        return self._store.blobs

    @property
    def stats(self) -> CommitStats:
        with self._cond:
            return CommitStats(self._batches, self._acceptances, self._largest)

    # the asyncio side

    async def commit(self, pending: PendingBlob, acceptance: Acceptance) -> None:
        """Resolves when the batch holding this acceptance is durable; raises StorageError
        (or the acceptance's own error) otherwise."""
        loop = asyncio.get_running_loop()
        job = _Commit(loop, loop.create_future(), [(pending, acceptance)], False, [None], 1)
        self._submit(self._commits, job)
        await job.future

    async def commit_many(
        self, items: Sequence[tuple[PendingBlob, Acceptance]]
    ) -> list[Exception | None]:
        """Commit every item (as `commit` does one); resolves when each is settled with each
        one's outcome: None when durable, else its error (StorageError, or its own)."""
        if not items:
            return []
        loop = asyncio.get_running_loop()
        job = _Commit(loop, loop.create_future(), list(items), True, [None] * len(items),
                      len(items))
        self._submit(self._commits, job)
        errors: list[Exception | None] = await job.future
        return errors

    async def run(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(store, *args, **kwargs)` on the store's thread."""
        loop = asyncio.get_running_loop()
        job = _Call(loop, loop.create_future(), lambda store: fn(store, *args, **kwargs))
        self._submit(self._calls, job)
        result: T = await job.future
        return result

    def _submit(self, queue: deque[Any], job: _Job) -> None:
        with self._cond:
            if self._closing or self._thread is None or self._start_error is not None:
                raise StorageError("the store is closed")
            queue.append(job)
            self._cond.notify()

    # the store's thread

    def _main(self) -> None:
        try:
            store = self._factory()
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            return
        self._store = store
        self._ready.set()
        try:
            while True:
                with self._cond:
                    while not (self._commits or self._calls or self._closing):
                        self._cond.wait()
                    if not (self._commits or self._calls):
                        break  # closing, and nothing left
                    calls = list(self._calls)
                    self._calls.clear()
                    batch = self._take()
                try:
                    for call in calls:
                        _deliver([(call, *_outcome(call.fn, store))])
                    if batch:
                        self._accept(store, batch)
                except BaseException as exc:  # not an Exception: do not leave callers hanging
                    jobs = {id(job): job for job, _, _ in batch}
                    with self._cond:
                        jobs.update((id(job), job) for job in self._commits)
                        self._commits.clear()
                    _deliver(
                        [
                            (job, None, StorageError(f"store thread died: {exc!r}"))
                            for job in [*calls, *jobs.values()]
                        ]
                    )
                    raise
        finally:
            with self._cond:
                self._closing = True
                leftover = [*self._calls, *self._commits]
                self._calls.clear()
                self._commits.clear()
            _deliver([(job, None, StorageError("the store is closed")) for job in leftover])
            try:
                store.close()
            except Exception:
                log.exception("closing the store failed")

    def _take(self) -> list[tuple[_Commit, int, int]]:
        """The next batch (under the lock): (job, start, end) slices of jobs' items, single
        acceptances first, then the rest in order, at most `max_batch` acceptances."""
        singles = [job for job in self._commits if len(job.items) == 1]
        others = [job for job in self._commits if len(job.items) != 1]
        taken: list[tuple[_Commit, int, int]] = []
        room = self._max_batch
        for job in [*singles, *others]:
            if room <= 0:
                break
            start = len(job.items) - job.left
            end = min(len(job.items), start + room)
            taken.append((job, start, end))
            job.left -= end - start
            room -= end - start
        done = {id(job) for job, _, _ in taken if job.left == 0}
        if done:
            kept = [job for job in self._commits if id(job) not in done]
            self._commits.clear()
            self._commits.extend(kept)
        return taken

    def _accept(self, store: Store, batch: list[tuple[_Commit, int, int]]) -> None:
        slices = [(job, i) for job, start, end in batch for i in range(start, end)]
        error = self._try_accept(store, [job.items[i] for job, i in slices])
        if error is None:
            outcomes: list[Exception | None] = [None] * len(slices)
        elif len(slices) > 1 and isinstance(error, _ITEM_ERRORS):
            outcomes = [self._try_accept(store, [job.items[i]]) for job, i in slices]
        else:
            outcomes = [error] * len(slices)
        _discard_failed(store, [(job.items[i][0], outcome)
                                for (job, i), outcome in zip(slices, outcomes, strict=True)])
        finished: list[tuple[_Job, Any, BaseException | None]] = []
        for (job, i), outcome in zip(slices, outcomes, strict=True):
            job.errors[i] = outcome
        for job, _, end in batch:
            if end < len(job.items):
                continue  # the rest of its items are in a later batch
            if job.many:
                finished.append((job, job.errors, None))
            else:
                finished.append((job, None, job.errors[0]))
        _deliver(finished)

    def _try_accept(
        self, store: Store, items: Sequence[tuple[PendingBlob, Acceptance]]
    ) -> Exception | None:
        try:
            store.accept(items)
        except Exception as exc:
            return exc
        with self._cond:
            self._batches += 1
            self._acceptances += len(items)
            self._largest = max(self._largest, len(items))
        return None


def _outcome(fn: Callable[[Store], Any], store: Store) -> tuple[Any, BaseException | None]:
    try:
        return fn(store), None
    except Exception as exc:
        return None, exc


def _discard_failed(store: Store,
                    outcomes: Sequence[tuple[PendingBlob, BaseException | None]]) -> None:
    """Remove the temporary files of failed acceptances (unless shared with a committed one)."""
    kept = {id(pending) for pending, error in outcomes if error is None}
    for pending, error in outcomes:
        if error is not None and id(pending) not in kept:
            with contextlib.suppress(Exception):  # best effort; clean_temp catches the rest
                store.blobs.discard(pending)


def _deliver(outcomes: Sequence[tuple[_Job, Any, BaseException | None]]) -> None:
    """Resolve futures on their loops, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, items)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _resolve(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, result, error in outcomes:
        if job.future.done():
            continue  # the caller was cancelled
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)
