"""`postoffice sieve ...` and `postoffice user quota`: output, JSON shapes, one-line errors that
change nothing."""

import dataclasses
import json
import subprocess
import time
from pathlib import Path

import pytest

from postoffice.cli.user import human_size, parse_limit
from postoffice.errors import UsageError
from postoffice.storage import open_store
from postoffice.storage.mailboxes import NewMessage, Quota, SieveScript
from postoffice.testing.server import postoffice

USER = "postmaster@example.test"
GOOD = 'require "fileinto";\nif header :contains "subject" "[list]" {\n  fileinto "Lists";\n}\n'
BROKEN = 'require "fileinto";\nif header :contains "subject" "x" {\n  frobnicate;\n}\n'


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    postoffice("init", "--domain", "example.test", "--ports", "any", data=d)
    return d


def _scripts(data: Path) -> list[SieveScript]:
    """The user's scripts, without their write times (those are checked apart)."""
    store = open_store(data)
    try:
        return [dataclasses.replace(s, updated_at=0.0) for s in store.list_sieve_scripts(USER)]
    finally:
        store.close()


def _quota(data: Path) -> Quota:
    store = open_store(data)
    try:
        return store.quota(USER)
    finally:
        store.close()


def _deliver(data: Path, size: int) -> None:
    store = open_store(data)
    try:
        writer = store.blobs.writer()
        head = b"Subject: filler\r\n\r\n"
        writer.write(head + b"x" * (size - len(head)))
        store.append_messages(USER, "INBOX", [NewMessage(writer.finish())])
    finally:
        store.close()


def _fails(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("postoffice: error:") and result.stderr.count("\n") == 1
    assert text in result.stderr


def test_sieve_put_get_ls_activate_rm(data: Path, tmp_path: Path) -> None:
    good = tmp_path / "lists.sieve"
    good.write_text(GOOD)
    out = postoffice("sieve", "put", USER, "lists", str(good), "--activate", data=data).stdout
    assert out == f"script lists of {USER} stored and active\n"
    out = postoffice("sieve", "put", "Postmaster@Example.TEST", "spare", "-", data=data, stdin="keep;\n").stdout
    assert out == f"script spare of {USER} stored\n"

    assert postoffice("sieve", "get", USER, data=data).stdout == GOOD
    assert postoffice("sieve", "get", USER, "spare", data=data).stdout == "keep;\n"

    store = open_store(data)
    try:
        store.record_sieve_error(USER, "lists", "line 3: folder Lists\ndoes not exist")
    finally:
        store.close()
    lines = postoffice("sieve", "ls", USER, data=data).stdout.splitlines()
    assert lines == ["lists  active  error: line 3: folder Lists does not exist", "spare"]
    listed = json.loads(postoffice("sieve", "ls", USER, "--json", data=data).stdout)
    assert all(time.time() - 600 < entry.pop("updated_at") <= time.time() for entry in listed)
    assert listed == [
        {"name": "lists", "active": True,
         "last_error": "line 3: folder Lists\ndoes not exist"},
        {"name": "spare", "active": False, "last_error": None},
    ]

    out = postoffice("sieve", "activate", USER, "spare", data=data).stdout
    assert out == f"script spare of {USER} is active\n"
    assert postoffice("sieve", "get", USER, data=data).stdout == "keep;\n"
    assert postoffice("sieve", "rm", USER, "lists", data=data).stdout == f"script lists of {USER} removed\n"
    assert postoffice("sieve", "activate", USER, "--none", data=data).stdout == f"no script of {USER} is active\n"
    assert [(s.name, s.active) for s in _scripts(data)] == [("spare", False)]
    assert postoffice("sieve", "rm", USER, "spare", data=data).returncode == 0
    assert postoffice("sieve", "ls", USER, data=data).stdout == ""
    assert json.loads(postoffice("sieve", "ls", USER, "--json", data=data).stdout) == []


def test_sieve_put_replaces_and_keeps_active_mark(data: Path) -> None:
    postoffice("sieve", "put", USER, "main", "-", "--activate", data=data, stdin="keep;\n")
    store = open_store(data)
    try:
        store.record_sieve_error(USER, "main", "line 1: failed")
    finally:
        store.close()
    postoffice("sieve", "put", USER, "main", "-", data=data, stdin="discard;\n")
    assert _scripts(data) == [SieveScript("main", "discard;\n", True, None)]


def test_sieve_put_refuses_broken_scripts(data: Path, tmp_path: Path) -> None:
    postoffice("sieve", "put", USER, "main", "-", "--activate", data=data, stdin="keep;\n")
    before = _scripts(data)
    broken = tmp_path / "broken.sieve"
    broken.write_text(BROKEN)
    r = postoffice("sieve", "put", USER, "main", str(broken), data=data, check=False)
    _fails(r, f"{broken}: line 3: unknown command 'frobnicate'; script not stored")
    r = postoffice("sieve", "put", USER, "new", "-", "--activate", data=data, stdin=BROKEN, check=False)
    _fails(r, "standard input: line 3:")
    r = postoffice("sieve", "put", USER, "new", "-", data=data, stdin='fileinto "x";\n', check=False)
    _fails(r, "line 1: 'fileinto' is used but not declared with require")
    r = postoffice("sieve", "put", USER, "new", "-", data=data, stdin='if true {\n\n keep;\n', check=False)
    _fails(r, "missing '}' closing the block of line 1")
    assert _scripts(data) == before


def test_sieve_put_input_errors(data: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.sieve"
    _fails(postoffice("sieve", "put", USER, "x", str(missing), data=data, check=False),
           f"{missing}: No such file or directory")
    latin1 = tmp_path / "latin1.sieve"
    latin1.write_bytes(b'# caf\xe9\nkeep;\n')
    _fails(postoffice("sieve", "put", USER, "x", str(latin1), data=data, check=False), "must be UTF-8")
    _fails(postoffice("sieve", "put", USER, "", "-", data=data, stdin="keep;\n", check=False),
           "invalid script name '': Empty script name")
    _fails(postoffice("sieve", "put", USER, "a\tb", "-", data=data, stdin="keep;\n", check=False),
           "Invalid character in script name")
    _fails(postoffice("sieve", "put", "ghost@example.test", "x", "-", data=data, stdin="keep;\n", check=False),
           "no user ghost@example.test")
    _fails(postoffice("sieve", "put", "not-an-address", "x", "-", data=data, stdin="keep;\n", check=False),
           "invalid address")
    assert _scripts(data) == []


def test_sieve_errors_change_nothing(data: Path) -> None:
    postoffice("sieve", "put", USER, "main", "-", "--activate", data=data, stdin="keep;\n")
    postoffice("sieve", "put", USER, "spare", "-", data=data, stdin="discard;\n")
    before = _scripts(data)
    ghost = "ghost@example.test"
    for args in (("get", ghost), ("get", ghost, "main"), ("ls", ghost), ("ls", ghost, "--json"),
                 ("activate", ghost, "main"), ("activate", ghost, "--none"), ("rm", ghost, "main")):
        _fails(postoffice("sieve", *args, data=data, check=False), f"no user {ghost}")
    _fails(postoffice("sieve", "get", USER, "nope", data=data, check=False), f"{USER} has no script nope")
    _fails(postoffice("sieve", "activate", USER, "nope", data=data, check=False), "no script nope")
    _fails(postoffice("sieve", "activate", USER, data=data, check=False), "give either a script NAME or --none")
    _fails(postoffice("sieve", "activate", USER, "spare", "--none", data=data, check=False),
           "give either a script NAME or --none")
    _fails(postoffice("sieve", "rm", USER, "nope", data=data, check=False), "no script nope")
    _fails(postoffice("sieve", "rm", USER, "main", data=data, check=False),
           f"script main of {USER} is active (activate another one, or none with")
    assert _scripts(data) == before

    postoffice("sieve", "activate", USER, "--none", data=data)
    _fails(postoffice("sieve", "get", USER, data=data, check=False), f"{USER} has no active script")


def test_sieve_missing_data_dir(tmp_path: Path) -> None:
    _fails(postoffice("sieve", "ls", USER, data=tmp_path / "nope", check=False), "postoffice init")


def test_quota_show_and_set(data: Path) -> None:
    assert postoffice("user", "quota", USER, data=data).stdout == f"{USER}: 0 B used, no limit\n"
    assert json.loads(postoffice("user", "quota", USER, "--json", data=data).stdout) == {
        "address": USER, "used_bytes": 0, "limit_bytes": None}

    for limit, octets, shown in (("500M", 500 * 2**20, "500 MiB"), ("2g", 2 * 2**30, "2 GiB"),
                                 ("10K", 10240, "10 KiB"), ("1536", 1536, "1.5 KiB"),
                                 ("0", 0, "0 B")):
        out = postoffice("user", "quota", USER, limit, data=data).stdout
        assert out == f"quota of {USER} set to {shown}\n"
        assert _quota(data) == Quota(0, octets)

    postoffice("user", "quota", USER, "4K", data=data)
    _deliver(data, 3072)
    assert postoffice("user", "quota", USER, data=data).stdout == f"{USER}: 3 KiB of 4 KiB used (75%)\n"
    shown = json.loads(postoffice("user", "quota", "Postmaster@Example.test", "--json", data=data).stdout)
    assert shown == {"address": USER, "used_bytes": 3072, "limit_bytes": 4096}

    assert postoffice("user", "quota", USER, "none", data=data).stdout == f"quota of {USER} removed (no limit)\n"
    assert _quota(data) == Quota(3072, None)
    assert postoffice("user", "quota", USER, data=data).stdout == f"{USER}: 3 KiB used, no limit\n"
    changed = json.loads(postoffice("user", "quota", USER, "1M", "--json", data=data).stdout)
    assert changed == {"address": USER, "used_bytes": 3072, "limit_bytes": 2**20}


def test_quota_errors_change_nothing(data: Path) -> None:
    postoffice("user", "quota", USER, "2G", data=data)
    for bad in ("abc", "-5", "1.5G", "10X", "5 MB", "", "١٠"):
        _fails(postoffice("user", "quota", USER, bad, data=data, check=False), f"invalid quota {bad!r}")
    _fails(postoffice("user", "quota", USER, "99999999T", data=data, check=False), "is too large")
    _fails(postoffice("user", "quota", "ghost@example.test", data=data, check=False),
           "no user ghost@example.test")
    _fails(postoffice("user", "quota", "ghost@example.test", "1G", data=data, check=False),
           "no user ghost@example.test")
    _fails(postoffice("user", "quota", "nobody", "1G", data=data, check=False), "invalid address")
    assert _quota(data) == Quota(0, 2 * 2**30)


def test_limit_parsing_and_sizes() -> None:
    assert parse_limit("500M") == 500 * 1024 * 1024
    assert parse_limit("10k") == 10240
    assert parse_limit("3T") == 3 * 2**40
    assert parse_limit("None") is None
    assert parse_limit(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(UsageError):
        parse_limit(str(2**63))
    assert [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 2**30, 2**63 - 1)] == [
        "0 B", "1023 B", "1 KiB", "1.5 KiB", "5 GiB", "8388608 TiB"]
