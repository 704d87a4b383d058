"""Single sends before batch work, within one worker: transactional mail never waits behind
a newsletter. While a single send is in flight, the loops that make a batch's messages wait at
their turns (up to MAX_WAIT each), so the single send's steps run as soon as they are ready
instead of behind slices of every batch; the group committer takes single acceptances first
too (storage/commit.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

MAX_WAIT = 0.05
"""Longest a batch's turn waits for single sends (so a stream of them cannot starve it)."""


class Priority:
    def __init__(self) -> None:
        self._urgent = 0
        self._clear: asyncio.Event | None = None

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Around a single send."""
        self._urgent += 1
        try:
            yield
        finally:
            self._urgent -= 1
            if not self._urgent and self._clear is not None:
                self._clear.set()

    async def turn(self) -> None:
        """Between two slices of batch work: let others run, single sends first."""
        await asyncio.sleep(0)
        if not self._urgent:
            return
        if self._clear is None:
            self._clear = asyncio.Event()
        self._clear.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(MAX_WAIT):
                await self._clear.wait()
