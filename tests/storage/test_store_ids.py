"""Message ids: short, unique, sortable by time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from postoffice.storage.ids import ALPHABET, LENGTH, id_time, new_message_id

WORKER = Path(__file__).with_name("store_worker.py")


def test_shape() -> None:
    message_id = new_message_id(1_700_000_000.123)
    assert len(message_id) == LENGTH == 26
    assert set(message_id) <= set(ALPHABET)
    assert id_time(message_id) == pytest.approx(1_700_000_000.123)


def test_sorted_by_time() -> None:
    times = [1_600_000_000.0, 1_600_000_000.001, 1_700_000_000.5, 2_000_000_000.0]
    ids = [new_message_id(t) for t in times]
    assert sorted(ids) == ids
    assert new_message_id(5.0) < ids[0]  # a clock going back does not drag the time along


def test_same_millisecond_ids_sort_in_creation_order() -> None:
    ids = [new_message_id(1_700_000_000.0) for _ in range(1000)]
    assert sorted(ids) == ids
    assert len(set(ids)) == 1000


def test_malformed_ids_are_rejected() -> None:
    for bad in ("", "0" * 25, "U" * 26):
        with pytest.raises(ValueError):
            id_time(bad)


def test_unique_across_processes() -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "ids", "20000"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    ids = []
    for proc in procs:  # both run at once: same milliseconds
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        ids += out.split()
    ids += [new_message_id(time.time()) for _ in range(20000)]
    assert len(ids) == 60000
    assert len(set(ids)) == 60000
