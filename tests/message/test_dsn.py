"""Building DSNs (RFC 3464/3461/6533), read back with the email package and with parse_dsn."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.message import EmailMessage, Message
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.message.dsn import (
    Action,
    DsnRecipient,
    ReturnPolicy,
    build_dsn,
    parse_dsn,
    should_notify,
    utf8_addr_xtext,
)

HOST = "mx.example.org"
ARRIVAL = 1_700_000_000.0
NOW = ARRIVAL + 3_600
LAST = NOW - 60
UNTIL = ARRIVAL + 5 * 86_400
ORIGINAL = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Lunch\r\n"
    b"Message-ID: <lunch.1@example.org>\r\n"
    b"\r\n"
    b"Shall we meet at noon?\r\n"
    b"-- \r\n"
    b"Alice\r\n"
)
REPLY = ("550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
         "550 5.1.1 double-checking the recipient's email address for typos.")

FAILED = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED, status="5.1.1",
                      diagnostic=REPLY, remote_mta="mx1.example.net", last_attempt=LAST)
DELAYED = DsnRecipient(final_recipient="carol@example.net", action=Action.DELAYED,
                       status="4.4.1", diagnostic="connect to mx.example.net: timed out",
                       last_attempt=LAST, will_retry_until=UNTIL)
DELIVERED = DsnRecipient(final_recipient="dave@example.net", action=Action.DELIVERED,
                         status="2.0.0", remote_mta="mx.example.net",
                         diagnostic="250 2.0.0 Ok: queued as 4F3A")


def build(*recipients: DsnRecipient, **kw: Any) -> bytes:
    args: dict[str, Any] = dict(reporting_mta=HOST, sender="alice@example.org",
                                recipients=recipients or (FAILED,), original=ORIGINAL,
                                arrival=ARRIVAL, now=NOW)
    args.update(kw)
    return build_dsn(**args)


def parsed(dsn: bytes) -> EmailMessage:
    msg = email.message_from_bytes(dsn, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    return msg


def parts(dsn: bytes) -> list[Message]:
    payload = parsed(dsn).get_payload()
    assert isinstance(payload, list)
    return payload


def status_blocks(dsn: bytes) -> list[Message]:
    blocks = parts(dsn)[1].get_payload()
    assert isinstance(blocks, list)
    return blocks


def text_of(dsn: bytes) -> str:
    """The text part, its lines joined (wrapping does not matter to the checks)."""
    part = parts(dsn)[0]
    assert isinstance(part, EmailMessage)
    return " ".join(str(part.get_content()).split())


# -- the message as a whole ------------------------------------------------------------------

def test_failure_dsn_structure() -> None:
    dsn = build()
    msg = parsed(dsn)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    boundary = msg.get_boundary()
    assert boundary and f"--{boundary}--\r\n".encode() in dsn
    assert [p.get_content_type() for p in parts(dsn)] == [
        "text/plain", "message/delivery-status", "message/rfc822"]
    per_message, recipient = status_blocks(dsn)
    assert per_message["Reporting-MTA"] == f"dns; {HOST}"
    assert email.utils.parsedate_to_datetime(per_message["Arrival-Date"]).timestamp() == ARRIVAL
    assert recipient["Final-Recipient"] == "rfc822; bob@example.net"
    assert recipient["Action"] == "failed"
    assert recipient["Status"] == "5.1.1"
    assert recipient["Remote-MTA"] == "dns; mx1.example.net"
    assert str(recipient["Diagnostic-Code"]).startswith("smtp; 550-5.1.1 The email account")
    assert email.utils.parsedate_to_datetime(recipient["Last-Attempt-Date"]).timestamp() == LAST
    assert "Will-Retry-Until" not in recipient


def test_headers_of_the_dsn() -> None:
    msg = parsed(build())
    assert msg["From"].addresses[0].display_name == "Mail Delivery System"
    assert msg["From"].addresses[0].addr_spec == f"MAILER-DAEMON@{HOST}"
    assert msg["To"].addresses[0].addr_spec == "alice@example.org"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Date"].datetime.timestamp() == NOW
    assert re.fullmatch(r"<[^<>@\s]+@mx\.example\.org>", msg["Message-ID"])
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    assert "Return-Path" not in msg  # the null reverse path is the envelope's business


def test_wire_form_crlf_7bit_short_lines() -> None:
    dsn = build(FAILED, DELAYED)
    assert b"\n" not in dsn.replace(b"\r\n", b"")
    assert b"\r" not in dsn.replace(b"\r\n", b"")
    assert all(b < 0x80 for b in dsn)
    assert max(len(line) for line in dsn.split(b"\r\n")) <= 78
    assert dsn.endswith(b"--\r\n")


def test_delivery_status_blocks_are_separated_by_blank_lines() -> None:
    dsn = build(FAILED, DELAYED)
    body = dsn.split(b"Content-Type: message/delivery-status\r\n", 1)[1]
    body = body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]
    blocks = body.rstrip(b"\r\n").split(b"\r\n\r\n")
    assert [b.split(b"\r\n", 1)[0].split(b":")[0] for b in blocks] == [
        b"Reporting-MTA", b"Final-Recipient", b"Final-Recipient"]
    assert all(b"\r\n\r\n" not in b and b for b in blocks)


@pytest.mark.parametrize(
    ("rcpt", "subject"),
    [
        (FAILED, "Undelivered Mail Returned to Sender"),
        (DELAYED, "Delayed Mail (still being retried)"),
        (DELIVERED, "Successful Mail Delivery Report"),
        (DsnRecipient(final_recipient="e@example.net", action=Action.RELAYED, status="2.0.0",
                      remote_mta="old.example.net"), "Successful Mail Delivery Report"),
        (DsnRecipient(final_recipient="list@example.net", action=Action.EXPANDED,
                      status="2.0.0"), "Successful Mail Delivery Report"),
    ],
)
def test_every_kind_builds_and_parses_back(rcpt: DsnRecipient, subject: str) -> None:
    dsn = build(rcpt)
    assert parsed(dsn)["Subject"] == subject
    assert status_blocks(dsn)[1]["Action"] == rcpt.action.value
    report = parse_dsn(dsn)
    assert report is not None
    assert report.reporting_mta == HOST
    assert report.arrival_date == ARRIVAL
    [got] = report.recipients
    assert got.final_recipient == rcpt.final_recipient
    assert got.action == rcpt.action.value
    assert got.status == rcpt.status
    assert got.remote_mta == rcpt.remote_mta
    assert got.last_attempt == rcpt.last_attempt
    if rcpt.diagnostic:
        assert got.diagnostic == " ".join(rcpt.diagnostic.split())
    assert f"<{rcpt.final_recipient}>" in text_of(dsn)


def test_delay_notice() -> None:
    dsn = build(DELAYED, ret="FULL")
    block = status_blocks(dsn)[1]
    assert email.utils.parsedate_to_datetime(block["Will-Retry-Until"]).timestamp() == UNTIL
    report = parse_dsn(dsn)
    assert report is not None and report.recipients[0].will_retry_until == UNTIL
    text = text_of(dsn)
    assert "not delivered yet" in text and "do not need to send it again" in text
    assert "Sun, 19 Nov 2023" in text  # the give-up date, in words
    assert parts(dsn)[2].get_content_type() == "text/rfc822-headers"  # never the full message


def test_will_retry_until_only_for_delays() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED, status="5.1.1",
                        will_retry_until=UNTIL)
    assert "Will-Retry-Until" not in status_blocks(build(rcpt))[1]


def test_mixed_outcomes_in_one_report() -> None:
    dsn = build(FAILED, DELAYED, DELIVERED)
    assert parsed(dsn)["Subject"] == "Undelivered Mail Returned to Sender"
    report = parse_dsn(dsn)
    assert report is not None
    assert [(r.final_recipient, r.action) for r in report.recipients] == [
        ("bob@example.net", "failed"), ("carol@example.net", "delayed"),
        ("dave@example.net", "delivered")]
    assert "still being tried" in text_of(dsn)


def test_human_text_explains_in_plain_words() -> None:
    text = text_of(build())
    assert f"This is the mail system at {HOST}." in text
    assert "<bob@example.net>: delivery failed." in text
    assert "Reason: the mailbox does not exist (5.1.1)." in text
    assert "The mail server mx1.example.net said:" in text
    assert "double-checking the recipient's email address for typos." in text
    assert "will not try again" in text
    assert "Your message is attached." in text


def test_expired_item_reads_as_such() -> None:
    expired = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                           status="4.4.7", diagnostic="connect to mx.example.net: timed out")
    text = text_of(build(expired))
    assert "could not be delivered within the time allowed (4.4.7)" in text
    report = parse_dsn(build(expired))
    assert report is not None and report.recipients[0].status == "4.4.7"


def test_long_diagnostic_is_folded_and_unfolds_back() -> None:
    reply = "550 5.7.1 " + " ".join(f"word{i}" for i in range(60))
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.7.1", diagnostic=reply)
    dsn = build(rcpt)
    assert max(len(line) for line in dsn.split(b"\r\n")) <= 78
    report = parse_dsn(dsn)
    assert report is not None and report.recipients[0].diagnostic == reply


def test_diagnostic_cannot_inject_fields() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.0.0", diagnostic="550 no\r\n\r\nFinal-Recipient: rfc822; x@y")
    report = parse_dsn(build(rcpt))
    assert report is not None and len(report.recipients) == 1
    assert report.recipients[0].diagnostic == "550 no Final-Recipient: rfc822; x@y"


def test_non_ascii_diagnostic_is_made_ascii_in_an_ascii_report() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.2.2", diagnostic="552 5.2.2 Postfach voll (Grüße)")
    dsn = build(rcpt)
    report = parse_dsn(dsn)
    assert report is not None and report.recipients[0].diagnostic == "552 5.2.2 Postfach voll (Gr??e)"
    assert "Grüße" in text_of(dsn)  # the words for people keep it (quoted-printable)


def test_deterministic_and_unique_per_moment() -> None:
    assert build() == build()
    assert parsed(build())["Message-ID"] != parsed(build(now=NOW + 1))["Message-ID"]
    assert parsed(build(message_id="<x.1@mx.example.org>"))["Message-ID"] == "<x.1@mx.example.org>"


def test_boundary_not_in_the_original() -> None:
    msg = parsed(build())
    assert f"--{msg.get_boundary()}".encode() not in ORIGINAL


# -- what comes back (RET) -------------------------------------------------------------------

def returned_part(dsn: bytes) -> Message:
    return parts(dsn)[2]


def test_ret_full_returns_the_message_byte_for_byte() -> None:
    dsn = build(ret="FULL")
    part = returned_part(dsn)
    assert part.get_content_type() == "message/rfc822"
    inner = part.get_payload()
    assert isinstance(inner, list) and inner[0]["Message-ID"] == "<lunch.1@example.org>"
    assert b"\r\n\r\n" + ORIGINAL + b"\r\n--" in dsn
    report = parse_dsn(dsn)
    assert report is not None and report.returned_full
    assert report.returned_headers == ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n"


def test_ret_hdrs_returns_the_header_only() -> None:
    dsn = build(ret="HDRS")
    part = returned_part(dsn)
    assert part.get_content_type() == "text/rfc822-headers"
    assert "Message-ID: <lunch.1@example.org>" in str(part.get_payload())
    assert b"Shall we meet" not in dsn
    assert "attached, as you asked" in text_of(dsn)
    report = parse_dsn(dsn)
    assert report is not None and not report.returned_full
    assert report.returned_headers == ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n"


def test_ret_full_over_the_limit_returns_headers_and_says_so() -> None:
    big = ORIGINAL + b"x" * 70 + b"\r\n"
    dsn = build(original=big, ret="FULL", policy=ReturnPolicy(full_limit=len(big) - 1))
    assert returned_part(dsn).get_content_type() == "text/rfc822-headers"
    assert b"xxxxxxxx" not in dsn
    text = text_of(dsn)
    assert f"Your message ({len(big)} bytes) is larger than the {len(big) - 1} bytes" in text
    assert "only its header is attached" in text
    full = build(original=big, ret="FULL", policy=ReturnPolicy(full_limit=len(big)))
    assert returned_part(full).get_content_type() == "message/rfc822"


def test_ret_absent_full_when_small_headers_when_large() -> None:
    assert returned_part(build()).get_content_type() == "message/rfc822"
    policy = ReturnPolicy(implicit_full_limit=len(ORIGINAL) - 1)
    dsn = build(policy=policy)
    assert returned_part(dsn).get_content_type() == "text/rfc822-headers"
    assert "larger than" in text_of(dsn)
    # an explicit RET=FULL is honoured up to the (larger) full_limit
    assert returned_part(build(policy=policy, ret="full")).get_content_type() == "message/rfc822"


def test_default_limits() -> None:
    policy = ReturnPolicy()
    assert policy.full_limit == 256 * 1024 and policy.implicit_full_limit == 64 * 1024
    padding = b"y" * 998 + b"\r\n"
    big = ORIGINAL + padding * (65 * 1024 // len(padding))
    assert returned_part(build(original=big)).get_content_type() == "text/rfc822-headers"
    assert returned_part(build(original=big, ret="FULL")).get_content_type() == "message/rfc822"


def test_success_and_delay_notices_never_return_the_body() -> None:
    for rcpt in (DELAYED, DELIVERED):
        dsn = build(rcpt, ret="FULL")
        assert returned_part(dsn).get_content_type() == "text/rfc822-headers"
        assert b"Shall we meet" not in dsn


def test_original_with_lf_line_ends_is_returned_with_crlf() -> None:
    dsn = build(original=ORIGINAL.replace(b"\r\n", b"\n"), ret="FULL")
    assert b"\r\n\r\n" + ORIGINAL + b"\r\n--" in dsn


def test_eight_bit_original_makes_an_8bit_part() -> None:
    original = ORIGINAL.replace(b"noon?", "midi, ça va ?".encode())
    dsn = build(original=original, ret="FULL")
    assert parsed(dsn)["Content-Transfer-Encoding"] == "8bit"
    assert returned_part(dsn)["Content-Transfer-Encoding"] == "8bit"
    assert original in dsn


# -- ENVID, ORCPT ----------------------------------------------------------------------------

def test_envid_and_orcpt_round_trip() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.1.1", original_recipient="rfc822;Bob+2Btag@Example.NET")
    dsn = build(rcpt, envid="QQ314159+2Bx+20y")
    per_message, block = status_blocks(dsn)
    assert per_message["Original-Envelope-Id"] == "QQ314159+x y"
    assert block["Original-Recipient"] == "rfc822; Bob+tag@Example.NET"
    assert dsn.index(b"Original-Recipient") < dsn.index(b"Final-Recipient")
    report = parse_dsn(dsn)
    assert report is not None
    assert report.original_envelope_id == "QQ314159+x y"
    assert report.recipients[0].original_recipient == "Bob+tag@Example.NET"
    assert report.recipients[0].final_recipient == "bob@example.net"


def test_no_envid_no_orcpt_no_fields() -> None:
    dsn = build()
    assert b"Original-Envelope-Id" not in dsn and b"Original-Recipient" not in dsn
    report = parse_dsn(dsn)
    assert report is not None and report.original_envelope_id is None
    assert report.recipients[0].original_recipient is None


def test_unprintable_envid_and_orcpt_stay_xtext() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.1.1", original_recipient="rfc822;a+0D+0AAction:+20x@y")
    dsn = build(rcpt, envid="id+0D+0AX-Evil:+201")
    report = parse_dsn(dsn)
    assert report is not None
    assert report.original_envelope_id == "id+0D+0AX-Evil:+201"
    assert [n for n, _ in report.fields] == ["Reporting-MTA", "Original-Envelope-Id",
                                            "Arrival-Date"]
    [got] = report.recipients
    assert got.action == "failed"
    assert [n for n, _ in got.fields].count("Action") == 1


def test_other_address_types_are_kept() -> None:
    rcpt = DsnRecipient(final_recipient="bob@example.net", action=Action.FAILED,
                        status="5.1.1", original_recipient="x400;/C+3DGB/S+3Dbob+20smith/")
    assert status_blocks(build(rcpt))[1]["Original-Recipient"] == "x400; /C=GB/S=bob smith/"


# -- internationalised addresses (RFC 6533) --------------------------------------------------

def test_utf8_recipient_in_an_ascii_report_uses_utf8_addr_xtext() -> None:
    rcpt = DsnRecipient(final_recipient="josé@example.net", action=Action.FAILED,
                        status="5.1.1", original_recipient="utf-8;jos\\x{E9}@example.net")
    dsn = build(rcpt)
    assert all(b < 0x80 for b in dsn)
    assert parsed(dsn).get_param("report-type") == "delivery-status"
    block = status_blocks(dsn)[1]
    assert block["Final-Recipient"] == "utf-8; jos\\x{E9}@example.net"
    assert block["Original-Recipient"] == "utf-8; jos\\x{E9}@example.net"
    report = parse_dsn(dsn)
    assert report is not None
    assert report.recipients[0].final_recipient == "josé@example.net"
    assert report.recipients[0].original_recipient == "josé@example.net"
    assert "<josé@example.net>: delivery failed." in text_of(dsn)


def test_smtputf8_message_gets_a_global_report() -> None:
    original = "From: Jürgen <jürgen@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    rcpt = DsnRecipient(final_recipient="用户@example.net", action=Action.FAILED,
                        status="5.1.1", original_recipient="utf-8;\\x{7528}\\x{6237}@example.net",
                        diagnostic="550 5.1.1 用户不存在")
    dsn = build(rcpt, sender="jürgen@example.org", original=original, smtputf8=True)
    msg = parsed(dsn)
    assert msg.get_param("report-type") == "global-delivery-status"
    assert "To: <jürgen@example.org>\r\n".encode() in dsn  # RFC 6532: raw UTF-8
    assert [p.get_content_type() for p in parts(dsn)] == [
        "text/plain", "message/global-delivery-status", "message/global"]
    assert "Final-Recipient: utf-8; 用户@example.net\r\n".encode() in dsn
    assert "Original-Recipient: utf-8; 用户@example.net\r\n".encode() in dsn
    assert "Diagnostic-Code: smtp; 550 5.1.1 用户不存在\r\n".encode() in dsn
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert all(p["Content-Transfer-Encoding"] == "8bit" for p in parts(dsn)[1:])
    assert original in dsn
    report = parse_dsn(dsn)
    assert report is not None and report.returned_full
    [got] = report.recipients
    assert got.final_recipient == "用户@example.net" and got.original_recipient == got.final_recipient
    assert got.diagnostic == "550 5.1.1 用户不存在"
    assert report.returned_headers is not None and "Grüße".encode() in report.returned_headers


def test_global_report_returns_global_headers() -> None:
    dsn = build(DELAYED, smtputf8=True)
    assert parts(dsn)[2].get_content_type() == "message/global-headers"
    assert all(b < 0x80 for b in dsn)  # global, but nothing in it needs 8 bits
    assert "Content-Transfer-Encoding" not in parsed(dsn)


def test_sender_with_a_quoted_local_part() -> None:
    msg = parsed(build(sender='"john smith"@example.org'))
    assert msg["To"].addresses[0].addr_spec == '"john smith"@example.org'


def test_non_ascii_sender_forces_a_global_report() -> None:
    dsn = build(sender="josé@example.org")
    assert parsed(dsn).get_param("report-type") == "global-delivery-status"


def test_utf8_addr_xtext() -> None:
    assert utf8_addr_xtext("josé@example.net") == "jos\\x{E9}@example.net"
    assert utf8_addr_xtext("a+b=c\\d@x") == "a\\x{2B}b\\x{3D}c\\x{5C}d@x"
    assert utf8_addr_xtext("𝔘@x") == "\\x{1D518}@x"


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFFF,
                                      blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                      blacklist_characters="@<>\"()[]\\,;:"),
               min_size=1, max_size=30))
def test_any_local_part_round_trips(local: str) -> None:
    address = f"{local}@example.net"
    for utf8 in (False, True):
        rcpt = DsnRecipient(final_recipient=address, action=Action.FAILED, status="5.1.1")
        report = parse_dsn(build(rcpt, smtputf8=utf8))
        assert report is not None and report.recipients[0].final_recipient == address


# -- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("sender", ["", "<>", " "])
def test_no_dsn_to_the_null_sender(sender: str) -> None:
    with pytest.raises(ValueError, match="null"):
        build(sender=sender)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"recipients": ()}, "at least one"),
        ({"ret": "SOME"}, "RET"),
        ({"sender": "a@b\r\nBcc: c@d"}, "header"),
        ({"reporting_mta": "mx example"}, "header"),
        ({"message_id": "<a@b>\r\nX: y"}, "header"),
    ],
)
def test_bad_arguments(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build(**kw)


@pytest.mark.parametrize(
    ("action", "status"),
    [(Action.FAILED, "2.0.0"), (Action.DELAYED, "5.1.1"), (Action.DELIVERED, "4.0.0"),
     (Action.RELAYED, "5.0.0"), (Action.FAILED, "5.1"), (Action.FAILED, "550")],
)
def test_status_must_fit_the_action(action: Action, status: str) -> None:
    with pytest.raises(ValueError):
        build(DsnRecipient(final_recipient="b@example.net", action=action, status=status))


def test_failed_may_carry_a_persistent_transient_status() -> None:
    build(DsnRecipient(final_recipient="b@example.net", action=Action.FAILED, status="4.4.7"))


# -- should_notify (RFC 3461) ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("kind", "notify", "expected"),
    [
        (Action.FAILED, (), True),
        (Action.DELAYED, (), False),
        (Action.DELIVERED, (), False),
        (Action.RELAYED, (), False),
        (Action.FAILED, ("NEVER",), False),
        (Action.DELAYED, ("NEVER",), False),
        (Action.FAILED, ("SUCCESS",), False),
        (Action.DELIVERED, ("SUCCESS",), True),
        (Action.RELAYED, ("SUCCESS",), True),
        (Action.EXPANDED, ("SUCCESS",), True),
        (Action.DELAYED, ("SUCCESS", "FAILURE"), False),
        (Action.DELAYED, ("DELAY",), True),
        (Action.FAILED, ("delay", "failure"), True),
        (Action.DELIVERED, ("FAILURE", "DELAY"), False),
        ("failed", ("FAILURE",), True),
        ("FAILURE", (), True),
        ("success", ("SUCCESS",), True),
        ("DELAY", ("DELAY",), True),
    ],
)
def test_should_notify(kind: Action | str, notify: tuple[str, ...], expected: bool) -> None:
    assert should_notify(kind, notify, "alice@example.org") is expected


def test_delay_notices_without_notify_are_our_choice() -> None:
    assert should_notify(Action.DELAYED, (), "a@example.org", delay_default=True)
    assert not should_notify(Action.DELAYED, ("FAILURE",), "a@example.org", delay_default=True)
    assert not should_notify(Action.DELAYED, ("NEVER",), "a@example.org", delay_default=True)


@pytest.mark.parametrize("kind", list(Action))
@pytest.mark.parametrize("notify", [(), ("SUCCESS", "FAILURE", "DELAY"), ("NEVER",)])
@pytest.mark.parametrize("null", ["", "<>", " <> "])
def test_never_a_bounce_for_a_bounce(kind: Action, notify: tuple[str, ...], null: str) -> None:
    assert not should_notify(kind, notify, null, delay_default=True)


def test_should_notify_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        should_notify("bounced", (), "a@example.org")
