"""Fixtures of the API tests (the harness is postoffice.testing.api)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.testing.api import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield World(tmp_path / "data")
