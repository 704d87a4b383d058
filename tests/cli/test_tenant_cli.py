"""`postoffice tenant ...`, `postoffice apikey ...` and `domain add --tenant`, run in process:
output, JSON shapes, one-line errors that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postoffice.cli.main import main
from postoffice.policy import api_keys
from postoffice.storage import open_store
from postoffice.storage.sqlite.store import DB_NAME


def run(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data", str(data)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "data"
    assert run(capsys, path, "init", "--domain", "example.test", "--ports", "any")[0] == 0
    return path


def test_init_gives_the_first_domain_to_the_default_tenant(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, data, "tenant", "ls", "--json")
    assert code == 0
    [default] = json.loads(out)
    assert (default["name"], default["domains"], default["retention_days"]) == (
        "default", ["example.test"], 60)


def test_tenants_domains_and_limits(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, data, "tenant", "add", "acme", "--retention-days", "30")[1] == \
        "tenant acme added\n"
    code, _, err = run(capsys, data, "tenant", "add", "acme")
    assert code == 1 and err == "postoffice: error: tenant acme exists already\n"
    code, _, err = run(capsys, data, "tenant", "add", "Bad Name")
    assert code == 1 and err.startswith("postoffice: error: bad tenant name") and "\n" not in err[:-1]
    assert run(capsys, data, "domain", "add", "acme.example", "--tenant", "acme")[0] == 0
    code, _, err = run(capsys, data, "domain", "add", "x.example", "--tenant", "nobody")
    assert code == 1 and err == "postoffice: error: no tenant nobody\n"
    domains = json.loads(run(capsys, data, "domain", "ls", "--json")[1])
    assert {d["name"]: d["tenant"] for d in domains} == {"acme.example": "acme",
                                                         "example.test": "default"}
    assert run(capsys, data, "tenant", "limits", "acme", "--hourly", "100", "--daily", "none")[1] \
        == "tenant acme: hourly 100, daily none, retention 30 days\n"
    tenants = {t["name"]: t for t in json.loads(run(capsys, data, "tenant", "ls", "--json")[1])}
    assert (tenants["acme"]["hourly_limit"], tenants["acme"]["daily_limit"],
            tenants["acme"]["domains"]) == (100, None, ["acme.example"])
    code, _, err = run(capsys, data, "tenant", "limits", "nobody", "--hourly", "5")
    assert code == 1 and err == "postoffice: error: no tenant nobody\n"


def test_api_keys_shown_once_stored_hashed_revocable(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, data, "tenant", "add", "acme")
    code, out, _ = run(capsys, data, "apikey", "create", "--tenant", "acme", "--scope", "read",
                       "--name", "dashboard", "--json")
    created = json.loads(out)
    assert code == 0 and set(created) == {"key", "id", "tenant", "scope"}
    assert (created["tenant"], created["scope"]) == ("acme", "read")
    assert api_keys.key_id(created["key"]) == created["id"]
    code, out, _ = run(capsys, data, "apikey", "create", "--tenant", "acme")
    plain_key = out.splitlines()[0]
    assert api_keys.key_id(plain_key) is not None and "shown only once" in out

    listed = json.loads(run(capsys, data, "apikey", "ls", "--tenant", "acme", "--json")[1])
    assert [(k["scope"], k["name"], k["revoked_at"]) for k in listed] == [
        ("read", "dashboard", None), ("send", "", None)]
    assert created["key"] not in json.dumps(listed)
    stored = b"".join(p.read_bytes() for p in data.glob(f"{DB_NAME}*"))
    assert api_keys.digest(created["key"]).encode() in stored  # the digest is kept ...
    assert created["key"].encode() not in stored  # ... never the key

    code, _, err = run(capsys, data, "apikey", "revoke", "--tenant", "default", created["id"])
    assert code == 1 and "has no key" in err
    assert run(capsys, data, "apikey", "revoke", "--tenant", "acme", created["id"])[0] == 0
    store = open_store(data)
    try:
        found = store.api_key(created["id"])
    finally:
        store.close()
    assert found is not None and found[0].revoked_at is not None

    code, _, err = run(capsys, data, "apikey", "create", "--tenant", "nobody")
    assert code == 1 and err == "postoffice: error: no tenant nobody\n"
    code, _, err = run(capsys, data, "apikey", "ls", "--tenant", "nobody")
    assert code == 1 and err == "postoffice: error: no tenant nobody\n"
