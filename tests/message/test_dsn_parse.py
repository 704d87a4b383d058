"""Reading DSNs made by other MTAs: hand-made oddities and real bounces from public suites."""

from __future__ import annotations

import base64
import json
import os
import quopri
from pathlib import Path
from typing import Any

import pytest

from postoffice.message.dsn import parse_dsn


def report(status_part: str, *, headers: str = "", returned: str = "") -> bytes:
    text = (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "Subject: Undelivered Mail\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
        f"--B\r\nContent-Type: message/delivery-status\r\n{headers}\r\n{status_part}\r\n"
        f"{returned}--B--\r\n"
    )
    return text.encode()


PLAIN = (
    "Reporting-MTA: dns; mx.example.net\r\n"
    "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
    "Final-Recipient: rfc822; bob@example.net\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
)


def test_plain_report() -> None:
    got = parse_dsn(report(PLAIN))
    assert got is not None
    assert got.reporting_mta == "mx.example.net"
    assert got.arrival_date == 1_700_000_000.0
    [rcpt] = got.recipients
    assert (rcpt.final_recipient, rcpt.action, rcpt.status) == ("bob@example.net", "failed", "5.1.1")
    assert rcpt.diagnostic == "550 5.1.1 no such user"
    assert got.returned_headers is None and not got.returned_full


def test_not_a_dsn() -> None:
    assert parse_dsn(b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n") is None
    assert parse_dsn(b"") is None
    assert parse_dsn(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n") is None


def test_lf_line_ends_and_mbox_from_line() -> None:
    data = b"From MAILER-DAEMON Mon Feb  9 12:36:39 2009\n" + report(PLAIN).replace(b"\r\n", b"\n")
    got = parse_dsn(data)
    assert got is not None and got.recipients[0].final_recipient == "bob@example.net"


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_encoded_status_part(encoding: str) -> None:
    raw = PLAIN.encode()
    body = base64.encodebytes(raw) if encoding == "base64" else quopri.encodestring(raw)
    got = parse_dsn(report(body.decode(), headers=f"Content-Transfer-Encoding: {encoding}\r\n"))
    assert got is not None and got.recipients[0].status == "5.1.1"


def test_report_inside_a_forwarded_message() -> None:
    inner = report(PLAIN).decode()
    outer = ("Subject: Fwd: bounce\r\nContent-Type: multipart/mixed; boundary=\"O\"\r\n\r\n"
             "--O\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
             f"--O\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--O--\r\n")
    got = parse_dsn(outer.encode())
    assert got is not None and got.recipients[0].final_recipient == "bob@example.net"


def test_several_recipients_and_run_together_blocks() -> None:
    part = (
        "Reporting-MTA: dns; mx.example.net\r\n"
        "Final-Recipient: rfc822; a@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Original-Recipient: rfc822; b-orig@example.net\r\n"
        "Final-Recipient: rfc822; b@example.net\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
        "\r\n \r\n"
        "Final-Recipient: rfc822; c@example.net\r\n"
        "Original-Recipient: rfc822; c-orig@example.net\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
        "\r\n\r\n"
    )
    got = parse_dsn(report(part))
    assert got is not None
    assert [n for n, _ in got.fields] == ["Reporting-MTA"]
    assert [(r.final_recipient, r.original_recipient, r.action, r.status) for r in got.recipients] == [
        ("a@example.net", None, "failed", "5.1.1"),
        ("b@example.net", "b-orig@example.net", "delayed", "4.2.2"),
        ("c@example.net", "c-orig@example.net", "delivered", "2.0.0"),
    ]


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.0.0 (recipient reached disk quota)", None, "5.0.0"),
        ("4.4.1 (Persistent transient failure)", None, "4.4.1"),
        (None, "smtp; 550 5.7.1 rejected", "5.7.1"),
        ("bogus", "smtp; 550-5.2.2 mailbox full", "5.2.2"),
        ("553 Exceeded maximum inbound message size", None, "5.0.0"),
        (None, "smtp; 452 too many recipients", "4.0.0"),
        (None, "X-Postfix; host said: 550 1.2.3.4 is listed", ""),
        (None, None, ""),
    ],
)
def test_status_from_wherever_it_is(status: str | None, diagnostic: str | None,
                                    expected: str) -> None:
    block = "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n"
    block += f"Status: {status}\r\n" if status else ""
    block += f"Diagnostic-Code: {diagnostic}\r\n" if diagnostic else ""
    got = parse_dsn(report("Reporting-MTA: dns; mx\r\n\r\n" + block))
    assert got is not None and got.recipients[0].status == expected


def test_addresses_in_angle_brackets_and_odd_types() -> None:
    block = ("Original-Recipient: rfc822;<agrisa@apollo.lv>\r\nFinal-Recipient: system;<>\r\n"
             "Action: failed\r\nStatus: 5.0.0\r\n")
    got = parse_dsn(report("Reporting-MTA: dns;mx\r\n\r\n" + block))
    assert got is not None
    rcpt = got.recipients[0]
    assert (rcpt.final_recipient, rcpt.original_recipient) == ("", "agrisa@apollo.lv")


def test_folded_fields_and_dates() -> None:
    block = ("Final-Recipient: RFC822;\r\n bob@example.net\r\nAction: Delayed (still trying)\r\n"
             "Status: 4.4.1\r\nWill-Retry-Until: Mon, 26 Mar 2001 03:42:45 +0100\r\n"
             "Last-Attempt-Date: not a date\r\n")
    got = parse_dsn(report("Reporting-MTA: dns; mx\r\n\r\n" + block))
    assert got is not None
    rcpt = got.recipients[0]
    assert rcpt.final_recipient == "bob@example.net" and rcpt.action == "delayed"
    assert rcpt.will_retry_until == 985574565.0 and rcpt.last_attempt is None


def test_returned_headers() -> None:
    returned = ("--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                "Message-ID: <m1@example.org>\r\nSubject: hi\r\n\r\n")
    got = parse_dsn(report(PLAIN, returned=returned))
    assert got is not None and not got.returned_full
    assert got.returned_headers == b"Message-ID: <m1@example.org>\r\nSubject: hi\r\n"


# -- real bounces (public test data; see SOURCE.txt there) -----------------------------------

FLUFL_KINDS = {"permanent": {"failed", "failure", "error"}, "temporary": {"delayed"}}


# The same place as the conformance_dir fixture, known at collection time for parametrize.
_CONFORMANCE = Path(os.environ.get("POSTOFFICE_CONFORMANCE")
                    or Path(__file__).resolve().parents[2].parent / "shared" / "conformance")


def _expected(suite: str) -> dict[str, Any]:
    path = _CONFORMANCE / suite / "expected.json"
    return json.loads(path.read_text()) if path.is_file() else {"per_detector": [], "cases": {}}


def _flufl_cases() -> list[tuple[str, list[str], str]]:
    return [(c["file"], c["expected_addresses"], c["failure_kind"])
            for c in _expected("flufl-bounce")["per_detector"] if c["detector"] == "dsn"]


def test_flufl_dsn_cases_are_present(conformance_dir: Path) -> None:
    assert len(_flufl_cases()) == 18


@pytest.mark.parametrize(("name", "addresses", "kind"), _flufl_cases() or [("none", [], "")])
def test_flufl_bounce_dsns(conformance_dir: Path, name: str, addresses: list[str],
                           kind: str) -> None:
    got = parse_dsn((conformance_dir / "flufl-bounce" / "data" / name).read_bytes())
    assert got is not None, name
    assert got.reporting_mta
    seen = {a.lower() for r in got.recipients
            for a in (r.final_recipient, r.original_recipient) if a}
    assert {a.lower() for a in addresses} <= seen
    assert {r.action for r in got.recipients} <= FLUFL_KINDS[kind]
    statuses = {r.status[:1] for r in got.recipients if r.status}
    assert statuses <= ({"5", "4"} if kind == "permanent" else {"4"})


RUBY_DSNS = {
    # file: (recipient, status), read from the delivery-status parts by hand
    "bounces/tt_1234175799.txt": ("agris.ameriks@amerimailzzz.lv", "5.4.4"),
    "bounces/tt_1234211357.txt": ("agris.ameriksNEEXISTEE@gmail.com", "5.1.1"),
    "bounces/tt_bounce_03.txt": ("agrisa@apollo.lv", "5.0.0"),
    "bounces/tt_bounce_05.txt": ("evor@apollo.lv", "5.0.0"),  # base64 part
    "bounces/tt_bounce_07.txt": ("ilona.kalnina@citrus.lv", "5.0.0"),
    "bounces/tt_bounce_10.txt": ("info.rietumuradio.lv@mail.studio7.lv", "4.0.0"),
    "bounces/tt_bounce_16.txt": ("notikums@tv5.lv", "5.2.3"),
    "bounces/tt_bounce_23.txt": ("Rihards_Freimanis@exigengroup.com", "5.1.1"),
    "bounces/tt_bounce_24.txt": ("customer.testemail@test-receive-domain.se", "5.1.1"),
}


@pytest.mark.parametrize("name", sorted(RUBY_DSNS))
def test_ruby_bounce_email_dsns(conformance_dir: Path, name: str) -> None:
    address, status = RUBY_DSNS[name]
    got = parse_dsn((conformance_dir / "ruby-bounce_email" / name).read_bytes())
    assert got is not None
    [rcpt] = got.recipients
    assert address in (rcpt.final_recipient, rcpt.original_recipient)
    assert rcpt.status == status and rcpt.action == "failed"
    expected = _expected("ruby-bounce_email")["cases"].get(name, {})
    if "code" in expected:
        assert rcpt.status == expected["code"]
    if expected.get("has_original_message"):
        assert got.returned_headers


@pytest.mark.parametrize("name", ["non_bounces/tt_1234210666.txt",
                                  "non_bounces/tt_1234211024.txt",
                                  "non_bounces/tt_1234241664.txt", "fixtures/no_subject.txt"])
def test_ruby_non_bounces_are_not_dsns(conformance_dir: Path, name: str) -> None:
    assert parse_dsn((conformance_dir / "ruby-bounce_email" / name).read_bytes()) is None
