"""Store calls off the event loop: a few threads, each with a Store of its own.

SQLite connections belong to the thread that opened them, so every thread opens its store on
first use and closes it when the pool closes. Readers never wait for the group committer's
thread; writes serialise in SQLite as they do between processes."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from postoffice.storage.interfaces import StorageError, Store

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[Store], Any]]


class StoreThreads:
    def __init__(self, open_store: Callable[[], Store], threads: int = 4,
                 name: str = "postoffice-store") -> None:
        self._open = open_store
        self._count = threads
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    async def run(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(store, *args, **kwargs)` on one of the threads."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StorageError("the store threads are closed")
            if not self._threads:
                self._start()
            self._jobs.put((loop, future, lambda store: fn(store, *args, **kwargs)))
        return await future

    def close(self) -> None:
        """Finish the queued calls, close every thread's store, join the threads."""
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    def _start(self) -> None:
        for i in range(self._count):
            thread = threading.Thread(target=self._main, name=f"{self._name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _main(self) -> None:
        store: Store | None = None
        try:
            while (job := self._jobs.get()) is not None:
                loop, future, call = job
                try:
                    if store is None:
                        store = self._open()
                    result = call(store)
                except Exception as exc:  # handed to the caller
                    _deliver(loop, future, None, exc)
                else:
                    _deliver(loop, future, result, None)
        finally:
            if store is not None:
                store.close()


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
             error: Exception | None) -> None:
    def settle() -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)
