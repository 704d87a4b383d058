"""Reason classes and hard/soft (`policy.bounces`): SMTP replies, and whole messages."""

from __future__ import annotations

import json

import pytest

from postoffice.message.reports import ReportKind
from postoffice.policy.bounces import Reason, classify_failure, classify_message, classify_reply
from postoffice.testing.conformance import CONFORMANCE

R = Reason

REPLIES = [
    # (code, status, text, reason, hard)
    (550, "5.1.1", "The email account that you tried to reach does not exist.", R.USER_UNKNOWN, True),
    (550, None, "Requested action not taken: mailbox unavailable", R.USER_UNKNOWN, True),
    (553, "5.3.0", "<x@example.com>... Addressee unknown", R.USER_UNKNOWN, True),
    (550, "5.2.1", "The email account that you tried to reach is disabled.", R.MAILBOX_DISABLED, True),
    (554, None, "This account has been disabled or discontinued", R.MAILBOX_DISABLED, True),
    (552, "5.2.2", "The email account that you tried to reach is over quota.", R.MAILBOX_FULL, False),
    (452, "4.2.2", "Mailbox full", R.MAILBOX_FULL, False),
    (552, "5.3.4", "Message size exceeds fixed maximum message size", R.MESSAGE_TOO_BIG, False),
    (550, None, "message size exceeds the limit", R.MESSAGE_TOO_BIG, False),
    (550, "5.1.2", "Host or domain name not found", R.HOST_UNKNOWN, True),
    (550, "5.4.4", "Unable to route: no mail hosts for domain", R.HOST_UNKNOWN, True),
    (451, "4.4.4", "Temporary server error. Please try again later", R.NETWORK, False),
    (421, "4.4.2", "connection timed out", R.NETWORK, False),
    (554, "5.4.7", "Delivery time expired", R.EXPIRED, False),
    (550, None, "this message has been in the queue too long", R.EXPIRED, False),
    (421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail", R.RATE_LIMIT, False),
    (450, None, "Too many connections, slow down", R.RATE_LIMIT, False),
    (451, None, "Greylisted, please try again later", R.RATE_LIMIT, False),
    (554, "5.7.1", "Relay access denied", R.POLICY_BLOCK, False),
    (550, "5.7.1", "Sender address rejected: not permitted", R.POLICY_BLOCK, False),
    (554, "5.7.1", "Service unavailable; Client host blocked using zen.spamhaus.org", R.SPAM_BLOCK, False),
    (550, "5.7.1", "likely unsolicited mail", R.SPAM_BLOCK, False),
    (550, "5.7.26", "Unauthenticated email is not accepted from this domain", R.AUTH_FAILURE, False),
    (550, "5.7.1", "rejected because of DMARC policy", R.AUTH_FAILURE, False),
    (550, None, "SPF check failed", R.AUTH_FAILURE, False),
    (535, "5.7.8", "Authentication credentials invalid", R.AUTH_FAILURE, False),
    (554, "5.6.0", "Message rejected: virus found", R.CONTENT_REJECTED, False),
    (552, None, "Banned attachment type .exe", R.CONTENT_REJECTED, False),
    (554, None, "Transaction failed", R.OTHER, False),
    # temporary failures are never hard, even for a bad-looking address
    (450, "4.1.1", "Recipient address rejected: User unknown", R.USER_UNKNOWN, False),
]


@pytest.mark.parametrize(("code", "status", "text", "reason", "hard"), REPLIES)
def test_classify_reply(code: int, status: str | None, text: str, reason: Reason, hard: bool) -> None:
    assert classify_reply(code, status, text) == (reason, hard)


def test_a_specific_status_decides_over_the_text() -> None:
    assert classify_reply(550, "5.2.2", "user unknown")[0] is R.MAILBOX_FULL
    assert classify_reply(550, "5.0.0", "user unknown")[0] is R.USER_UNKNOWN


def test_reply_code_alone() -> None:
    assert classify_reply(551, None, "") == (R.USER_UNKNOWN, True)
    assert classify_reply(421, None, "") == (R.NETWORK, False)


BOUNCE = b"""From: MAILER-DAEMON@mx.example.net\r
To: sender@example.org\r
Subject: failure notice\r
\r
Hi. This is the qmail-send program at mx.example.net.\r
\r
<bob@example.com>:\r
Remote host said: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown\r
\r
<carol@example.com>:\r
Sorry, your message to carol@example.com cannot be delivered. This account is over quota.\r
\r
--- Below this line is a copy of the message.\r
"""


def test_classify_message() -> None:
    feedback = classify_message(BOUNCE)
    assert feedback.kind is ReportKind.BOUNCE
    bob, carol = feedback.recipients
    assert (bob.address, bob.reason, bob.hard, bob.status, bob.reply_code) == (
        "bob@example.com", R.USER_UNKNOWN, True, "5.1.1", 550)
    assert (carol.address, carol.reason, carol.hard) == ("carol@example.com", R.MAILBOX_FULL, False)


def test_bare_cr_message_classifies_alike() -> None:
    assert classify_message(BOUNCE.replace(b"\r\n", b"\r")) == classify_message(BOUNCE)
    assert classify_message(BOUNCE.replace(b"\r\n", b"\n")) == classify_message(BOUNCE)


RUBY = CONFORMANCE / "ruby-bounce_email"


@pytest.mark.skipif(not (RUBY / "expected.json").is_file(), reason=f"no corpus at {RUBY}")
def test_ruby_status_codes_and_reasons() -> None:
    """Where the corpus names a status code: we report it, or (when the bounce quotes none)
    give the reason class that code stands for."""
    cases = json.loads((RUBY / "expected.json").read_text())["cases"]
    checked = 0
    for name, case in cases.items():
        if "code" not in case:
            continue
        feedback = classify_message((RUBY / name).read_bytes())
        assert feedback.recipients, name
        if case["code"] == "unknown":
            assert all(r.status is None for r in feedback.recipients), name
            continue
        expected_reason = classify_reply(None, case["code"], "")[0]
        for r in feedback.recipients:
            assert r.status == case["code"] or (r.status is None and r.reason is expected_reason), name
        checked += 1
    assert checked == 11


def test_failures_as_the_delivery_engine_words_them() -> None:
    assert classify_failure("5.1.1", "550 5.1.1 No such user here") == (Reason.USER_UNKNOWN, True)
    assert classify_failure("5.2.2", "552 5.2.2 Mailbox full") == (Reason.MAILBOX_FULL, False)
    assert classify_failure("4.4.1", "4.4.1 no host could be reached") == (Reason.NETWORK, False)
    # A 4xx is never hard, whatever its text says.
    assert classify_failure("", "450 user unknown") == (Reason.USER_UNKNOWN, False)
