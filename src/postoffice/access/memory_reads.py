"""FETCH of message content on the event loop, without a store thread: from the rows and
summaries the session read before, and blob bytes the page cache holds.

`MemoryReads` stands in for the Store in `fetch` (access/fetch.py): it serves what it can
and raises `NotInMemory` for anything else, before the command changed anything; the
caller then runs the command on a store thread as usual. So both ways give one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from postoffice.storage.blobs import BlobLocation, read_if_cached

READ_BUDGET = 1 << 20
"""Octets one command may read on the event loop (more goes to a store thread)."""


class NotInMemory(Exception):
    """The answer needs the store."""


class MemoryReads:
    """The part of the Store that FETCH uses, from memory (see the module docstring)."""

    def __init__(self, locations: Mapping[str, BlobLocation], budget: int = READ_BUDGET) -> None:
        self._locations = locations
        self._budget = budget
        self.blobs = self

    def read(self, digest: str) -> bytes:
        location = self._locations.get(digest)
        if location is None or location.size > self._budget:
            raise NotInMemory(digest)
        data = read_if_cached(location)
        if data is None:
            raise NotInMemory(digest)
        self._budget -= len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        """Every other store call (rows or summaries not read yet, flag changes)."""
        return _unavailable


def _unavailable(*args: object, **kwargs: object) -> NoReturn:
    raise NotInMemory("needs the store")
