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


# -- check message ----------------------------------------------------------------------------

MESSAGE = (b"From: News <news@brand.example>\r\nTo: x@remote.example\r\nSubject: hi\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@brand.example>\r\n\r\nhello\r\n")


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """A message signed by brand.example's keys, and a zone publishing them."""
    import datetime as dt

    from postoffice.clock import SYSTEM_CLOCK
    from postoffice.mta.dkim import Keyring

    ring = Keyring(tmp_path / "keys")
    ring.create("brand.example", dt.date(2026, 11, 1))
    path = tmp_path / "message.eml"
    path.write_bytes(ring.signer(SYSTEM_CLOCK)(MESSAGE, "") + MESSAGE)
    zone: dict[str, object] = {r.name: [{"TXT": r.value}] for r in ring.records("brand.example")}
    zone["brand.example"] = [{"TXT": "v=spf1 ip4:192.0.2.0/24 -all"}]
    zone["_dmarc.brand.example"] = [{"TXT": "v=DMARC1; p=reject"}]
    return path, zone


def check_message(tmp_path: Path, message: Path, zone: dict[str, object], *extra: str) -> tuple[int, dict[str, object]]:
    zone_file = tmp_path / "zone.json"
    zone_file.write_text(json.dumps(zone))
    status, out, err = check("message", str(message), "--ip", "198.51.100.7", "--mail-from", "bounce@other.example",
                             "--helo", "mx.other.example", "--dns-zone", str(zone_file), "--json", *extra,
                             data=tmp_path)
    assert status in (0, 1), err
    return status, json.loads(out)


def test_check_message_signed_mail_passes_dmarc_by_dkim(tmp_path: Path, signed: tuple[Path, dict[str, object]]) -> None:
    path, zone = signed
    status, doc = check_message(tmp_path, path, zone)
    assert status == 0
    assert doc["spf"]["result"] == "none"
    assert [(d["result"], d["domain"]) for d in doc["dkim"]] == [("pass", "brand.example")] * 2
    assert doc["dmarc"] == {"result": "pass", "from_domain": "brand.example", "policy": "reject",
                            "disposition": "none", "detail": ""}
    assert doc["arc"]["result"] == "none"
    assert "dmarc=pass" in str(doc["authentication_results"])
    assert any("_dmarc.brand.example TXT -> 'v=DMARC1; p=reject'" in line for line in doc["lookups"])


def test_check_message_tampered_mail_is_rejected_by_dmarc(tmp_path: Path, signed: tuple[Path, dict[str, object]]) -> None:
    path, zone = signed
    path.write_bytes(path.read_bytes().replace(b"Subject: hi", b"Subject: pay now"))
    status, doc = check_message(tmp_path, path, zone)
    assert status == 1
    assert {d["result"] for d in doc["dkim"]} == {"fail"}
    assert doc["dmarc"]["result"] == "fail" and doc["dmarc"]["disposition"] == "reject"
    assert doc["verdict"]["action"] == "reject" and doc["verdict"]["reply"].startswith("550 5.7.26")


def test_check_message_quarantine_goes_to_junk_and_dns_failure_is_a_tempfail(
    tmp_path: Path, signed: tuple[Path, dict[str, object]]
) -> None:
    path, zone = signed
    path.write_bytes(path.read_bytes().replace(b"Subject: hi", b"Subject: changed"))
    zone["_dmarc.brand.example"] = [{"TXT": "v=DMARC1; p=quarantine"}]
    status, doc = check_message(tmp_path, path, zone)
    assert (status, doc["verdict"]["action"]) == (1, "junk")
    zone["_dmarc.brand.example"] = ["TIMEOUT"]
    status, doc = check_message(tmp_path, path, zone)
    assert (status, doc["dmarc"]["result"], doc["verdict"]["action"]) == (1, "temperror", "tempfail")
    assert doc["verdict"]["reply"].startswith("451 4.4.3")


@pytest.mark.parametrize("header", [
    b"From: News <news@brand.example>\r\nFrom: evil@attacker.example\r\n",   # two From fields
    b"From: news@brand.example, evil@attacker.example\r\n",                  # two authors
])
def test_check_message_rejects_ambiguous_authors(tmp_path: Path, header: bytes) -> None:
    path = tmp_path / "spoof.eml"
    path.write_bytes(header + b"Subject: hi\r\n\r\nbody\r\n")
    status, doc = check_message(tmp_path, path, {})
    assert status == 1 and doc["verdict"]["reply"].startswith("550 5.7.1")


def test_check_message_display_name_trick_is_judged_by_the_address(tmp_path: Path) -> None:
    path = tmp_path / "spoof.eml"
    path.write_bytes(b'From: "news@brand.example" <evil@attacker.example>\r\nSubject: hi\r\n\r\nbody\r\n')
    status, doc = check_message(tmp_path, path, {"_dmarc.attacker.example": [{"TXT": "v=DMARC1; p=reject"}]})
    assert doc["dmarc"]["from_domain"] == "attacker.example" and status == 1
