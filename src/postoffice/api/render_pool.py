"""The messages of batch calls are made in processes of their own, at a lower CPU priority.

Rendering the templates and composing the MIME of a batch is most of its CPU. Made on the
worker's event loop, it holds the loop and the GIL the worker's committer needs under the
writer lock, and a single send waits behind it. In a render process with a higher nice
value (`NICE`), it runs on what CPU the loops and committers leave: transactional mail and
commits go first, bulk rendering takes the rest.

A render process that dies fails nothing: the pool is replaced and the chunk is made again on
the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger("postoffice.api")

NICE = 10
"""Added to a render process's nice value (lower CPU priority than the worker's threads)."""
PR_SET_PDEATHSIG = 1

T = TypeVar("T")


class RenderPool:
    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the processes now (a new process imports the application: about a second),
        not on the first batch call."""
        pool = self._executor()
        for _ in range(self._processes):
            pool.submit(_ready)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a render process (`fn` and its arguments picklable); in this
        process when the render process died."""
        pool = self._executor()
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool:
            log.warning("a render process died: the pool is replaced")
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            return fn(*args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned, not forked: the worker has threads (committers, store threads) whose
            # locks a forked child would inherit held.
            self._pool = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_initialize, initargs=(os.getpid(),))
        return self._pool


def _initialize(parent: int) -> None:
    """In each render process: die with the worker, lower priority, no signals of its own
    (the worker stops it), start-up objects out of the collector's reach."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    import postoffice.api.routes.batch  # noqa: F401  (what the tasks use, imported once)
    gc.collect()
    gc.freeze()


def _ready() -> None:
    """A task that does nothing: it starts a process."""
