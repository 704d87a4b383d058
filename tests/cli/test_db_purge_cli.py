"""`postoffice db purge [--dry-run] [--json]`, run in process: what it prints, and that a dry
run changes nothing."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest

from postoffice.cli.main import main
from postoffice.storage import open_store
from postoffice.storage.events import Event

DAY = 86400.0


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "data"
    assert run(capsys, path, "init", "--domain", "example.test", "--ports", "any")[0] == 0
    with contextlib.closing(open_store(path)) as store:
        store.record_events([Event(time.time() - 61 * DAY, "default", "m1", "opened"),
                             Event(time.time() - 61 * DAY, "default", "m1", "clicked"),
                             Event(time.time() - DAY, "default", "m2", "opened")])
    return path


def events(data: Path) -> int:
    with contextlib.closing(open_store(data)) as store:
        return len(store.message_events("default", "m1") + store.message_events("default", "m2"))


def test_purge_prints_what_it_removed(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, data, "db", "purge")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "removed:"
    assert [line.split()[-1] for line in lines if line.split()[0] == "events"] == ["2"]
    assert any(line.split()[:2] == ["bytes", "freed"] for line in lines)
    assert events(data) == 1


def test_purge_json_and_dry_run(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, data, "db", "purge", "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True and report["events"] == 2
    assert set(report) >= {"messages", "queue_items", "answers", "summaries", "blobs",
                           "large_files", "packs_compacted", "packs_dropped", "orphan_packs",
                           "bytes_freed"}
    assert events(data) == 3

    code, out, _ = run(capsys, data, "db", "purge", "--dry-run")
    assert code == 0 and out.startswith("would remove (dry run):")
    assert events(data) == 3

    report = json.loads(run(capsys, data, "db", "purge", "--json")[1])
    assert report["dry_run"] is False and report["events"] == 2
    assert json.loads(run(capsys, data, "db", "purge", "--json")[1])["events"] == 0
