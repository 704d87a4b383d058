"""`postoffice check spf|message`: verdicts reproduced from a zone file, traces, JSON, exit codes."""

import json
from pathlib import Path

import pytest

from postoffice.testing.server import postoffice

ZONE = """\
example.org:
  - TXT: "v=spf1 include:_spf.example.org -all"
_spf.example.org:
  - TXT: ["v=spf1 ip4:192.0.2.0/24 ", "ip6:2001:db8::/32 ~all"]
slow.example:
  - TIMEOUT
"""


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    path = tmp_path / "zone.yml"
    path.write_text(ZONE)
    return path


def check(*args: str, data: Path) -> tuple[int, str, str]:
    result = postoffice("check", *args, data=data, check=False)
    return result.returncode, result.stdout, result.stderr


def test_check_spf_pass_with_trace(zone: Path, tmp_path: Path) -> None:
    code, out, _ = check("spf", "--ip", "192.0.2.5", "--sender", "alice@example.org", "--helo", "mx.example.org",
                         "--dns-zone", str(zone), data=tmp_path)
    assert code == 0
    assert "_spf.example.org TXT -> 'v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all'" in out
    assert "result: pass (include:_spf.example.org)" in out
    assert "spf=pass smtp.mailfrom=alice@example.org" in out and "Received-SPF: pass" in out


@pytest.mark.parametrize("ip, sender, result, code", [
    ("198.51.100.1", "alice@example.org", "fail", 1),
    ("2001:db8::5", "alice@example.org", "pass", 0),
    ("192.0.2.5", "bob@nowhere.example", "none", 0),
    ("192.0.2.5", "bob@slow.example", "temperror", 1),
])
def test_check_spf_json(zone: Path, tmp_path: Path, ip: str, sender: str, result: str, code: int) -> None:
    status, out, _ = check("spf", "--ip", ip, "--sender", sender, "--dns-zone", str(zone), "--json", data=tmp_path)
    document = json.loads(out)
    assert (status, document["result"]) == (code, result)
    assert document["authentication_results"] == f"postoffice; spf={result} smtp.mailfrom={sender}"
    assert document["received_spf"].startswith(result)
    assert isinstance(document["trace"], list) and document["trace"]


def test_check_spf_empty_sender_checks_helo(zone: Path, tmp_path: Path) -> None:
    status, out, _ = check("spf", "--ip", "192.0.2.5", "--sender", "", "--helo", "example.org",
                           "--dns-zone", str(zone), "--json", data=tmp_path)
    document = json.loads(out)
    assert (status, document["result"], document["identity"]) == (0, "pass", "helo")


@pytest.mark.parametrize("args, message", [
    (["--ip", "not-an-ip", "--sender", "a@example.org"], "--ip"),
    (["--ip", "192.0.2.1", "--sender", "a@example.org", "--dns-zone", "/nonexistent.yml"], "--dns-zone"),
])
def test_check_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    status, out, err = check("spf", *args, data=tmp_path)
    assert status == 2 and message in err and err.count("\n") == 1 and out == ""


def test_check_bad_zone_file_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("example.org:\n  - A: 192.0.2.300\n")
    status, _, err = check("spf", "--ip", "192.0.2.1", "--sender", "a@example.org", "--dns-zone", str(bad),
                           data=tmp_path)
    assert status == 2 and "192.0.2.300" in err
