"""Reading bounces, delay notices, complaints and auto-replies (`message.reports`), against the
flufl.bounce and ruby bounce_email corpora and small hand-written messages."""

from __future__ import annotations

import json

import pytest

from postoffice.message.reports import (
    ReportKind,
    Returned,
    normalize,
    read_report,
    returned_message,
)
from postoffice.testing.conformance import CONFORMANCE

FLUFL = CONFORMANCE / "flufl-bounce"
RUBY = CONFORMANCE / "ruby-bounce_email"
ARF = CONFORMANCE / "stalwart-mail-auth" / "arf"

SKIPPED_ADDRESSES = {
    "yale_01.txt": ({"userx@cs.yale.edu"},
                    "flufl's Yale detector also guesses the cs.yale.edu form of a bare local "
                    "part; nothing in the message names it (userx@yale.edu is found)"),
}
"""Expected addresses left out, with the reason: the expected data goes beyond the message."""
NOT_BOUNCES = {"groupwise_03.txt": ReportKind.NONE, "qmail_08.txt": ReportKind.AUTOREPLY}
"""flufl samples that are no bounce at all (expected addresses empty)."""


def _flufl_cases() -> dict[str, tuple[set[str], str]]:
    """file -> (expected addresses over every detector row, lower case; failure kind)."""
    if not (FLUFL / "expected.json").is_file():
        return {}
    data = json.loads((FLUFL / "expected.json").read_text())
    cases: dict[str, tuple[set[str], str]] = {}
    for row in data["per_detector"]:
        addresses, _ = cases.setdefault(row["file"], (set(), row["failure_kind"]))
        addresses.update(a.lower() for a in row["expected_addresses"])
    return cases


def _ruby_cases() -> dict[str, dict[str, object]]:
    if not (RUBY / "expected.json").is_file():
        return {}
    cases: dict[str, dict[str, object]] = json.loads((RUBY / "expected.json").read_text())["cases"]
    return cases


FLUFL_CASES = _flufl_cases()
RUBY_CASES = _ruby_cases()
needs_flufl = pytest.mark.skipif(not FLUFL_CASES, reason=f"no corpus at {FLUFL}")
needs_ruby = pytest.mark.skipif(not RUBY_CASES, reason=f"no corpus at {RUBY}")


def flufl_verdict(name: str) -> tuple[bool, bool, set[str]]:
    """(kind right, every expected address found, addresses found) for one flufl sample."""
    expected, failure = FLUFL_CASES[name]
    expected = expected - SKIPPED_ADDRESSES.get(name, (set(), ""))[0]
    report = read_report((FLUFL / "data" / name).read_bytes())
    found = {r.address.lower() for r in report.recipients}
    if name in NOT_BOUNCES:
        kind_ok = report.kind is NOT_BOUNCES[name]
    else:
        kind_ok = report.kind is (ReportKind.DELAY if failure == "temporary" else ReportKind.BOUNCE)
    return kind_ok, expected <= found, found


def ruby_verdict(name: str) -> bool:
    """Bounce or not, and the status class, as the corpus expects."""
    case = RUBY_CASES[name]
    report = read_report((RUBY / name).read_bytes())
    bounced = report.kind in (ReportKind.BOUNCE, ReportKind.DELAY)
    if bounced != case["bounced"]:
        return False
    if bounced and not report.recipients:
        return name == "bounces/tt_bounce_11.txt"  # see test_ruby_sample_without_recipient
    if "type" in case:
        klass = "5" if str(case["type"]).startswith("Permanent") else "4"
        return all((r.status or "5")[0] == klass for r in report.recipients)
    return True


@needs_flufl
@pytest.mark.parametrize("name", sorted(FLUFL_CASES))
def test_flufl_sample(name: str) -> None:
    kind_ok, addresses_ok, found = flufl_verdict(name)
    assert kind_ok, name
    assert addresses_ok, f"{name}: found {sorted(found)}, expected {sorted(FLUFL_CASES[name][0])}"


@needs_flufl
def test_flufl_samples_without_expectations_still_read() -> None:
    """Samples outside the detector table: a failure without addresses, a virus-wall notice."""
    for name in ("bounce_01.txt", "dumbass_01.txt"):
        report = read_report((FLUFL / "data" / name).read_bytes())
        assert report.kind is ReportKind.BOUNCE
        assert not report.recipients


@needs_ruby
@pytest.mark.parametrize("name", sorted(RUBY_CASES))
def test_ruby_sample(name: str) -> None:
    assert ruby_verdict(name), name


@needs_ruby
def test_ruby_sample_without_recipient() -> None:
    """An Exchange notice naming the recipient by display name only: a bounce, no address."""
    report = read_report((RUBY / "bounces" / "tt_bounce_11.txt").read_bytes())
    assert report.kind is ReportKind.BOUNCE and not report.recipients


@needs_flufl
@needs_ruby
def test_accuracy_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Every sample right: printed as a summary (pytest -s shows it)."""
    kinds = addresses = extra = 0
    for name in FLUFL_CASES:
        kind_ok, addresses_ok, found = flufl_verdict(name)
        kinds += kind_ok
        addresses += addresses_ok
        extra += len(found - FLUFL_CASES[name][0]) if FLUFL_CASES[name][0] else 0
    ruby = sum(ruby_verdict(name) for name in RUBY_CASES)
    total = len(FLUFL_CASES)
    with capsys.disabled():
        print(f"\nflufl-bounce: kind {kinds}/{total}, expected addresses found {addresses}/{total}"
              f" ({len(SKIPPED_ADDRESSES)} address skipped), extra addresses {extra};"
              f" ruby-bounce_email: {ruby}/{len(RUBY_CASES)}")
    assert (kinds, addresses, ruby) == (total, total, len(RUBY_CASES))


# -- hand-written messages ---------------------------------------------------------------------

DSN = """\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: <sender@example.org>
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; bob@example.com
Original-Recipient: rfc822;bob@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address
    rejected: User unknown in local recipient table

Final-Recipient: rfc822; carol@example.com
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.com[192.0.2.1]:25: Connection timed out

Final-Recipient: rfc822; dave@example.com
Action: delivered
Status: 2.0.0

--B
Content-Type: message/rfc822

From: sender@example.org
To: bob@example.com

hello
--B--
"""

QMAIL = """\
From: MAILER-DAEMON@mx.example.net
To: sender@example.org
Subject: failure notice

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<bob@example.com>:
192.0.2.1 does not like recipient.
Remote host said: 550 5.2.2 <bob@example.com>: mailbox full
Giving up on 192.0.2.1.

--- Below this line is a copy of the message.

To: <not-this-one@example.com>
"""

EXIM_DELAY = """\
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: sender@example.org
Subject: Warning: message 1abc-000 delayed 24 hours

This message was created automatically by mail delivery software.

A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mx.example.net.

The address to which the message has not yet been delivered is:

  bob@example.com
    host mx.example.com [192.0.2.1]: Connection refused

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered.
"""

ARF_REPORT = """\
From: <feedback@isp.example>
To: <abuse@example.org>
Subject: FW: Earn money
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bulk@example.org>
Original-Rcpt-To: <user@isp.example>
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Source-IP: 192.0.2.1
Reported-Domain: example.org
Incidents: 3

--F
Content-Type: message/rfc822

From: <bulk@example.org>
To: <someone-else@isp.example>
Subject: Earn money

Spam
--F--
"""

VACATION = """\
From: Bob <bob@example.com>
To: sender@example.org
Subject: Out of Office: your message
Auto-Submitted: auto-replied

I am away until Monday.
"""


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_dsn_reports_failed_and_delayed_recipients_only() -> None:
    report = read_report(DSN.encode())
    assert report.kind is ReportKind.BOUNCE and report.source == "dsn"
    bob, carol = report.recipients
    assert (bob.address, bob.action, bob.status, bob.reply_code) == (
        "bob@example.com", "failed", "5.1.1", 550)
    assert bob.diagnostic is not None and bob.diagnostic.endswith("User unknown in local recipient table")
    assert bob.remote_mta == "mx.example.com"
    assert (carol.address, carol.action, carol.status) == ("carol@example.com", "delayed", "4.4.1")


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_any_line_ends_read_alike(line_end: str) -> None:
    for text in (DSN, QMAIL, ARF_REPORT):
        reference = read_report(text.encode())
        assert read_report(text.replace("\n", line_end).encode()) == reference


def test_normalize_drops_mbox_line_and_bare_cr() -> None:
    assert normalize(b"From x Mon Jan 1\r\nA: b\rC: d\r\n\r\nbody") == b"A: b\nC: d\n\nbody"


def test_qmail_text_bounce_stops_at_the_returned_message() -> None:
    report = read_report(_crlf(QMAIL))
    assert report.kind is ReportKind.BOUNCE and report.source == "text"
    (bob,) = report.recipients
    assert (bob.address, bob.status, bob.reply_code) == ("bob@example.com", "5.2.2", 550)
    assert bob.diagnostic is not None and "mailbox full" in bob.diagnostic


def test_exim_warning_is_a_delay() -> None:
    report = read_report(EXIM_DELAY.encode())
    assert report.kind is ReportKind.DELAY
    (bob,) = report.recipients
    assert bob.action == "delayed" and bob.diagnostic is not None
    assert "Connection refused" in bob.diagnostic


def test_arf_complaint() -> None:
    report = read_report(_crlf(ARF_REPORT))
    assert report.kind is ReportKind.COMPLAINT and report.complaint is not None
    complaint = report.complaint
    assert complaint.feedback_type == "abuse"
    assert complaint.original_mail_from == "bulk@example.org"
    assert complaint.original_rcpt_to == ("user@isp.example",)
    assert complaint.source_ip == "192.0.2.1"
    assert complaint.arrival_date == "Thu, 8 Mar 2005 14:00:00 EDT"
    assert complaint.user_agent == "SomeGenerator/1.0"
    assert complaint.reported_domain == ("example.org",)
    assert complaint.incidents == 3
    assert [r.address for r in report.recipients] == ["user@isp.example"]


def test_arf_without_original_rcpt_to_takes_the_returned_to() -> None:
    text = ARF_REPORT.replace("Original-Rcpt-To: <user@isp.example>\n", "")
    report = read_report(text.encode())
    assert [r.address for r in report.recipients] == ["someone-else@isp.example"]


@pytest.mark.skipif(not ARF.is_dir(), reason=f"no ARF samples at {ARF}")
def test_arf_samples() -> None:
    for path in sorted(ARF.glob("*.eml")):
        report = read_report(path.read_bytes())
        expected = json.loads(path.with_suffix(".json").read_text())
        assert report.kind is ReportKind.COMPLAINT, path.name
        assert report.complaint is not None
        wanted = str(expected["feedback_type"]).lower()
        assert report.complaint.feedback_type.replace("-", "") == wanted  # the JSON's form
        rcpt = expected.get("original_rcpt_to")
        if rcpt:
            assert [r.address for r in report.recipients] == [str(rcpt).strip("<>")]


def test_autoreply_and_plain_message() -> None:
    assert read_report(VACATION.encode()).kind is ReportKind.AUTOREPLY
    assert read_report(b"X-Autoreply: yes\nSubject: Re: hi\n\nthanks").kind is ReportKind.AUTOREPLY
    plain = b"From: a@example.com\nTo: b@example.com\nSubject: lunch?\n\nNoon at the usual place?"
    assert read_report(plain).kind is ReportKind.NONE


def test_the_returned_message_is_identified() -> None:
    raw = (b"Subject: report\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=feedback-report; boundary=A\r\n\r\n"
           b"--A\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
           b"--A\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Return-Path: <bounce+abc@example.test>\r\nMessage-ID:  <x1@example.test> (c)\r\n"
           b"\r\nbody\r\n--A--\r\n")
    assert returned_message(raw) == Returned("<x1@example.test>", "bounce+abc@example.test")
    assert returned_message(b"Subject: plain\r\n\r\nhello\r\n") == Returned()
