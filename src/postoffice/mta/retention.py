"""The retention job: `Store.purge` every `[retention] interval` seconds, by the injected clock.

One per install, in the process that runs the webhook dispatcher and the first delivery
engine (`app.runs_retention`), on a store thread of its own: a purge is many short
transactions and file removals, and the engine's own store calls never queue behind it. What
each purge removed is logged; a failed purge is logged and tried again an interval later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final

from postoffice.clock import Clock
from postoffice.config import RetentionSettings
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import Store
from postoffice.storage.retention import PurgeReport

log = logging.getLogger("postoffice.retention")

FIRST_DELAY: Final = 60.0
"""Seconds after start before the first purge (starting has enough to do)."""
MAX_WAIT: Final = 60.0
"""Seconds between looks at the clock at most (a clock set forward is noticed soon)."""

StoreCall = Callable[..., Awaitable[Any]]
"""`await run(fn, *args)` runs `fn(store, *args)` on a store thread."""


class RetentionJob:
    def __init__(self, *, settings: RetentionSettings, run: StoreCall, clock: Clock,
                 first_delay: float = FIRST_DELAY) -> None:
        self.settings = settings
        self._run = run
        self._clock = clock
        self.due_at = clock.now() + min(first_delay, settings.interval)
        """When the next purge is due, by the clock."""
        self._stopping = threading.Event()
        """Set by stop(); the running purge ends after its current batch."""
        self._wake = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            await self.tick()
            wait = min(MAX_WAIT, max(0.0, self.due_at - self._clock.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def tick(self) -> PurgeReport | None:
        """Purge when one is due; its report (None: not due, or it failed)."""
        now = self._clock.now()
        if now < self.due_at or self._stopping.is_set():
            return None
        self.due_at = now + self.settings.interval
        try:
            report: PurgeReport = await self._run(_purge, now, self.settings.batch,
                                                  self._stopping.is_set)
        except Exception:
            log.exception("retention purge failed; next try in %.0f s", self.settings.interval)
            return None
        log_report(report)
        return report

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()


def log_report(report: PurgeReport) -> None:
    if report.nothing:
        log.debug("retention purge: nothing to remove")
        return
    log.info("retention purge: removed events=%d messages=%d queue_items=%d answers=%d"
             " expired=%d summaries=%d blobs=%d (large files %d) packs compacted=%d dropped=%d"
             " orphans=%d freed=%d bytes", report.events, report.messages,
             report.queue_items, report.answers, report.expired, report.summaries, report.blobs,
             report.large_files, report.packs_compacted, report.packs_dropped,
             report.orphan_packs, report.bytes_freed)


def _purge(store: Store, now: float, batch: int, stop: Callable[[], bool]) -> PurgeReport:
    return store.purge(now, batch, stop=stop)


def start(settings: RetentionSettings, store_factory: Callable[[], Store],
          clock: Clock) -> Callable[[], Awaitable[None]]:
    """Run the job on its own store thread in the running loop; returns the coroutine
    function that stops it (a purge under way ends after its current batch)."""
    committer = GroupCommitter(store_factory)
    committer.start()
    job = RetentionJob(settings=settings, run=committer.run, clock=clock)
    task = asyncio.get_running_loop().create_task(job.run())

    async def stop() -> None:
        job.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await committer.close()

    return stop
