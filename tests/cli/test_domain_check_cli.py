"""`postoffice domain check` against a real authoritative server (Knot DNS) serving the zone that
`postoffice domain dns --json` describes.

The MTA-STS policy host is looked up through that zone too; the command has no way to trust a
test CA or use another port than 443 (on purpose), so the DNS rows are checked here without a
policy host (its row is wrong), and the all-pass run needs root to serve HTTPS on port 443
with the test CA in SSL_CERT_FILE. tests/mta/test_domain_check_live.py checks the policy
comparison itself with an injected trust."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.dkim.keys import generate_key, public_key_record
from postoffice.testing.certs import Authority, PolicyServer, Reply
from postoffice.testing.dns import AuthoritativeDns, published_zone
from postoffice.testing.peers import require_root
from postoffice.testing.server import postoffice

D = "example.test"
POLICY_HOST_IP = "127.0.0.44"
"""The address mail.example.test (and so mta-sts.example.test) has: nothing listens there
unless a test serves the policy."""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    postoffice("init", "--domain", D, "--ports", "any", data=d)
    return d


@pytest.fixture
def records(data: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(postoffice("domain", "dns", D, "--json", data=data).stdout)
    return rows


@pytest.fixture
def dns(data: Path, records: list[dict[str, str]]) -> Iterator[AuthoritativeDns]:
    zone: dict[str, Any] = published_zone(records)
    zone[f"mail.{D}"] = [{"A": POLICY_HOST_IP}]
    with AuthoritativeDns({D: zone}) as server:
        toml = data / "postoffice.toml"
        toml.write_text(toml.read_text().replace(
            "nameservers = []", f'nameservers = ["{server.nameserver}"]'))
        yield server


def check(data: Path) -> tuple[int, list[dict[str, str]]]:
    result = postoffice("domain", "check", D, "--json", data=data, check=False)
    assert result.stderr == ""
    return result.returncode, json.loads(result.stdout)


def test_each_record_is_looked_up_and_the_broken_ones_named(
    data: Path, records: list[dict[str, str]], dns: AuthoritativeDns
) -> None:
    code, rows = check(data)
    assert code == 1  # nothing serves the MTA-STS policy
    assert [(r["type"], r["name"]) for r in rows] == [(r["type"], r["name"]) for r in records]
    assert all(set(r) == {"type", "name", "status", "expected", "found", "advice"} for r in rows)
    *published, policy = rows
    assert [r["status"] for r in published] == ["pass"] * len(published)
    assert [r["value"] for r in records[:-1]] == [r["expected"] for r in published]
    assert policy["status"] == "wrong" and policy["found"].startswith("fetch failed:")
    assert POLICY_HOST_IP in policy["found"]

    zone: dict[str, Any] = published_zone(records)
    zone[f"mail.{D}"] = [{"A": POLICY_HOST_IP}]
    rsa_name = next(r["name"] for r in records if "k=rsa" in r["value"])
    other_key = public_key_record(generate_key("rsa-sha256"))
    zone[rsa_name] = [{"TXT": [other_key[:255], other_key[255:]]}]
    del zone[f"_dmarc.{D}"]
    zone[D] = [e for e in zone[D] if "MX" in e] + [{"TXT": "v=spf1 ip4:192.0.2.1 ~all"}]
    dns.set_zone(D, zone)
    code, rows = check(data)
    assert code == 1
    status = {(r["type"], r["name"]): r["status"] for r in rows}
    assert status.pop(("TXT", rsa_name)) == "wrong"
    assert status.pop(("TXT", f"_dmarc.{D}")) == "missing"
    assert status.pop(("TXT", D)) == "wrong"
    assert status.pop(("HTTPS", f"https://mta-sts.{D}/.well-known/mta-sts.txt")) == "wrong"
    assert set(status.values()) == {"pass"}
    spf = next(r for r in rows if (r["type"], r["name"]) == ("TXT", D))
    assert f"{POLICY_HOST_IP} gets softfail" in spf["advice"]

    text = postoffice("domain", "check", D, data=data, check=False)
    assert text.returncode == 1
    assert f"missing  TXT   _dmarc.{D}" in text.stdout and f"wrong    TXT   {rsa_name}" in text.stdout
    assert "change:   publish the expected record" in text.stdout
    assert text.stdout.rstrip().endswith("4 of 9 need a change")


def test_usage_errors_exit_2(data: Path, tmp_path: Path) -> None:
    other = postoffice("domain", "check", "nowhere.example", data=data, check=False)
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr == "postoffice: error: nowhere.example is not a local domain\n"
    empty = postoffice("domain", "check", D, data=tmp_path / "none", check=False)
    assert empty.returncode == 2 and "not a postoffice data directory" in empty.stderr


def test_everything_published_exits_0(
    data: Path, records: list[dict[str, str]], dns: AuthoritativeDns, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_root("serves the MTA-STS policy on port 443")
    ca = Authority(tmp_path)
    try:
        server = PolicyServer(ca.server(f"mta-sts.{D}"), host=POLICY_HOST_IP, port=443)
    except OSError as exc:
        pytest.skip(f"cannot serve the policy on {POLICY_HOST_IP}:443: {exc}")
    try:
        server.reply = Reply(records[-1]["value"].encode())
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))  # OpenSSL's default trust
        result = postoffice("domain", "check", D, data=data)
        assert result.stdout.rstrip().endswith("all 9 pass")
        assert "note:     p=none only monitors" in result.stdout
        assert server.requests == [(f"mta-sts.{D}", "/.well-known/mta-sts.txt")]
    finally:
        server.stop()
