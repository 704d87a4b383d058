"""`postoffice suppress add|rm|ls|import|export --tenant NAME`, run in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postoffice.cli.main import main


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "data"
    assert run(capsys, path, "init", "--domain", "example.test", "--ports", "any")[0] == 0
    assert run(capsys, path, "tenant", "add", "acme")[0] == 0
    return path


def listed(capsys: pytest.CaptureFixture[str], data: Path, tenant: str) -> list[dict[str, str]]:
    code, out, _ = run(capsys, data, "suppress", "ls", "--tenant", tenant, "--json")
    assert code == 0
    return list(json.loads(out))


def test_add_ls_rm(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, data, "suppress", "add", "--tenant", "acme", "Ann@far.example",
                       "bob@far.example", "--reason", "unsubscribe", "--category", "news")
    assert code == 0 and "suppressed 2" in out
    assert run(capsys, data, "suppress", "add", "--tenant", "acme", "cy@far.example",
               "--days", "2")[0] == 0
    found = listed(capsys, data, "acme")
    assert [(s["address"], s["reason"], s["category"]) for s in found] == [
        ("cy@far.example", "manual", ""), ("bob@far.example", "unsubscribe", "news"),
        ("ann@far.example", "unsubscribe", "news")]
    assert found[0]["expires_at"] is not None and found[1]["expires_at"] is None
    assert listed(capsys, data, "default") == []
    code, out, _ = run(capsys, data, "suppress", "ls", "--tenant", "acme")
    assert code == 0 and "unsubscribe" in out

    assert run(capsys, data, "suppress", "rm", "--tenant", "acme", "ann@far.example")[0] == 0
    code, _, err = run(capsys, data, "suppress", "rm", "--tenant", "acme", "ann@far.example")
    assert code != 0 and "not suppressed" in err
    code, _, err = run(capsys, data, "suppress", "add", "--tenant", "acme", "not-an-address")
    assert code != 0 and "address" in err
    code, _, err = run(capsys, data, "suppress", "ls", "--tenant", "nobody")
    assert code != 0 and "no tenant" in err


def test_export_and_import(data: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("address,reason,category,created_at,expires_at\n"
                      "ann@far.example,complaint,,1700000000,\n"
                      "bad line,manual,,,\n", encoding="utf-8")
    code, out, err = run(capsys, data, "suppress", "import", "--tenant", "acme", str(source))
    assert code == 1 and "imported 1" in out and "line 3" in err
    target = tmp_path / "out.csv"
    assert run(capsys, data, "suppress", "export", "--tenant", "acme", str(target))[0] == 0
    assert target.read_text(encoding="utf-8").splitlines() == [
        "address,reason,category,created_at,expires_at",
        "ann@far.example,complaint,,1700000000.0,"]
    code, out, _ = run(capsys, data, "suppress", "export", "--tenant", "default")
    assert code == 0 and out.strip() == "address,reason,category,created_at,expires_at"
