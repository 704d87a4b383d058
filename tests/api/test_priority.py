"""Batch work waits at its turns while a single send is in flight (api/priority.py)."""

from __future__ import annotations

import asyncio
import time

from postoffice.api import priority
from postoffice.api.priority import Priority


def test_turns_wait_for_single_sends_and_no_longer_than_max_wait() -> None:
    async def main() -> None:
        p = Priority()
        started = time.perf_counter()
        await p.turn()  # nobody urgent: at once
        assert time.perf_counter() - started < 0.02
        order: list[str] = []

        async def batch() -> None:
            await p.turn()
            order.append("batch")

        with p.urgent():
            task = asyncio.create_task(batch())
            await asyncio.sleep(0.01)
            assert order == []  # waits while the single send is in flight
            order.append("single")
        await task
        assert order == ["single", "batch"]
        with p.urgent():  # a single send that never ends cannot starve the batch
            started = time.perf_counter()
            await p.turn()
            assert priority.MAX_WAIT <= time.perf_counter() - started < priority.MAX_WAIT + 0.5

    asyncio.run(main())

