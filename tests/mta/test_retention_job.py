"""The retention job with an injected clock over a real store: when it purges, what it logs,
that a failure waits for the next interval, that its loop stops promptly, and which process of
`serve` runs it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from postoffice.app import Role, runs_retention
from postoffice.config import Config, DeliverySettings, RetentionSettings
from postoffice.mta.retention import RetentionJob
from postoffice.storage import Store, open_store
from postoffice.storage.events import Event

DAY = 86400.0


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


def job(store: Store, clock: FakeClock, *, fail: bool = False,
        **settings: Any) -> RetentionJob:
    async def run(fn: Callable[..., Any], *args: Any) -> Any:
        if fail:
            raise OSError("disk on fire")
        return fn(store, *args)

    return RetentionJob(settings=RetentionSettings(**settings), run=run, clock=clock,
                        first_delay=60.0)


def test_purges_when_due_then_every_interval(store: Store,
                                             caplog: pytest.LogCaptureFixture) -> None:
    start = time.time()
    store.record_events([Event(start - 61 * DAY, "default", "m1", "opened"),
                         Event(start - 59 * DAY, "default", "m2", "opened")])
    clock = FakeClock(start)
    retention = job(store, clock, interval=3600.0)

    async def scenario() -> None:
        assert await retention.tick() is None  # 60 s after start at the earliest
        clock.t += 60
        with caplog.at_level(logging.INFO, logger="postoffice.retention"):
            report = await retention.tick()
        assert report is not None and report.events == 1
        assert "retention purge: removed events=1" in caplog.text
        assert retention.due_at == clock.t + 3600
        clock.t += 3599
        assert await retention.tick() is None
        clock.t += 1 + 2 * DAY  # the second event is past retention by now
        report = await retention.tick()
        assert report is not None and report.events == 1

    asyncio.run(scenario())


def test_a_failed_purge_is_logged_and_tried_an_interval_later(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(time.time())
    retention = job(store, clock, fail=True, interval=600.0)
    clock.t += 60

    async def scenario() -> None:
        with caplog.at_level(logging.ERROR, logger="postoffice.retention"):
            assert await retention.tick() is None
        assert "retention purge failed" in caplog.text
        assert retention.due_at == clock.t + 600

    asyncio.run(scenario())


def test_the_loop_runs_and_stops(store: Store) -> None:
    store.record_events([Event(time.time() - 90 * DAY, "default", "m1", "opened")])
    clock = FakeClock(time.time())
    retention = job(store, clock)
    clock.t += 60  # due at once
    reports = []
    real_tick = retention.tick

    async def tick() -> Any:
        report = await real_tick()
        reports.append(report)
        return report

    retention.tick = tick  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(retention.run())
        while not reports:
            await asyncio.sleep(0.01)
        retention.stop()
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert reports[0] is not None and reports[0].events == 1


def test_one_process_runs_it(tmp_path: Path) -> None:
    config = Config(tmp_path)
    assert runs_retention(config, Role(0, listen=False, deliver=True))
    assert not runs_retention(config, Role(1, listen=False, deliver=True))
    assert not runs_retention(config, Role(0))
    assert runs_retention(config, Role(0, deliver=True))  # [delivery] processes = 0
    paused = Config(tmp_path, delivery=DeliverySettings(paused=True))
    assert runs_retention(paused, Role(0)) and not runs_retention(paused, Role(1))
    off = Config(tmp_path, retention=RetentionSettings(interval=0))
    assert not runs_retention(off, Role(0, listen=False, deliver=True))
