"""The MDA's Sieve step, pure part: actions to filings, flags an IMAP store can keep, spamtest
fed by the inbound score, vacation replies (RFC 5230 section 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

from postoffice import sieve
from postoffice.pipeline import filters
from postoffice.storage.interfaces import Filing

BOB = "bob@example.test"
RAW = (b"From: Alice <alice@sender.example>\r\nTo: bob@example.test\r\n"
       b"Subject: Quarterly figures\r\nMessage-ID: <q1@sender.example>\r\n"
       b"References: <q0@sender.example>\r\n\r\nThe figures are attached.\r\n")
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def message(raw: bytes = RAW, spam: float | None = None, body: bool = False) -> sieve.Message:
    return filters.message_for(raw, envelope_from="alice@sender.example", envelope_to=BOB,
                               spam_score=spam, spam_threshold=5.0, now=NOW, body=body)


def test_no_actions_is_an_implicit_keep() -> None:
    assert filters.decide(BOB, "", message()) == filters.Decision((Filing(BOB),))


def test_fileinto_keep_and_flags() -> None:
    source = ('require ["fileinto", "imap4flags", "mailbox"];\n'
              'fileinto :create :flags ["\\\\seen", "$Work", "bad]flag", "\\\\Recent"] "Work";\n'
              'keep;\n')
    decision = filters.decide(BOB, source, message())
    assert decision.filings == (Filing(BOB, "Work", ("\\Seen", "$Work"), create=True),
                                Filing(BOB))
    assert decision.error is None


def test_spamtest_reads_the_inbound_score() -> None:
    source = ('require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
              'if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; }\n')
    assert filters.decide(BOB, source, message(spam=4.0)).filings == (Filing(BOB, "Junk"),)
    assert filters.decide(BOB, source, message(spam=0.5)).filings == (Filing(BOB),)
    assert filters.decide(BOB, source, message(spam=None)).filings == (Filing(BOB),)


def test_body_tests_see_the_body_only_when_asked() -> None:
    source = 'require ["body", "fileinto"];\nif body :contains "figures are" { fileinto "F"; }\n'
    script = filters.compiled(source)
    assert not isinstance(script, sieve.SieveError) and filters.needs_body(script)
    assert filters.decide(BOB, source, message(body=True)).filings == (Filing(BOB, "F"),)
    no_body = filters.compiled('require "fileinto";\nfileinto "F";\n')
    assert not isinstance(no_body, sieve.SieveError) and not filters.needs_body(no_body)


def test_discard_redirect_reject() -> None:
    assert filters.decide(BOB, "discard;", message()).filings == ()
    redirect = filters.decide(BOB, 'redirect "carol@remote.example";', message())
    assert (redirect.filings, redirect.redirects) == ((), ("carol@remote.example",))
    rejected = filters.decide(BOB, 'require "reject";\nreject "No\r\nthanks\x00";', message())
    assert (rejected.filings, rejected.reject) == ((), "No thanks")


def test_a_broken_script_keeps_and_says_why() -> None:
    decision = filters.decide(BOB, 'require "fileinto";\nfileinto "x"\n', message())
    assert decision.filings == (Filing(BOB),)
    assert decision.error is not None and decision.error.startswith("line ")
    unknown = filters.decide(BOB, 'require "nonsense";\nkeep;', message())
    assert unknown.filings == (Filing(BOB),) and "nonsense" in str(unknown.error)


def test_imap_flags() -> None:
    assert filters.imap_flags(("\\SEEN", "\\seen", "$a", "$A", "x]y", "", "é", "\\Recent",
                               "\\Answered")) == ("\\Seen", "$a", "\\Answered")


def test_vacation_reply_fields() -> None:
    source = 'require "vacation";\nvacation :days 5 "Back on Monday.\r\nBob";'
    decision = filters.decide(BOB, source, message())
    assert decision.vacation is not None and decision.vacation.days == 5
    fields = [(n, v) for n, v in message().headers]
    reply = filters.vacation_reply(decision.vacation, user=BOB, to="alice@sender.example",
                                   original=fields, hostname="mail.example.test",
                                   now=NOW.timestamp())
    parsed = message_from_bytes(reply, policy=policy.default)
    assert parsed["From"] == BOB
    assert parsed["To"] == "alice@sender.example"
    assert parsed["Subject"] == "Auto: Quarterly figures"
    assert parsed["In-Reply-To"] == "<q1@sender.example>"
    assert parsed["References"] == "<q0@sender.example> <q1@sender.example>"
    assert parsed["Auto-Submitted"].startswith("auto-replied")
    assert parsed["Message-ID"].endswith("@mail.example.test>")
    assert parsed.get_content() == "Back on Monday.\r\nBob\r\n"
    assert b"\r\n" in reply and b"\n" not in reply.replace(b"\r\n", b"")


def test_vacation_reply_encodes_non_ascii() -> None:
    vacation = sieve.Vacation("Zurück am Montag.", subject="Abwesend – Büro",
                              sender="Bob Müller <bob@example.test>")
    reply = filters.vacation_reply(vacation, user=BOB, to="alice@sender.example", original=[],
                                   hostname="mail.example.test", now=NOW.timestamp())
    assert reply.split(b"\r\n\r\n")[0].isascii()
    parsed = message_from_bytes(reply, policy=policy.default)
    assert parsed["Subject"] == "Abwesend – Büro"
    assert parsed["From"].addresses[0].display_name == "Bob Müller"
    assert parsed.get_content().replace("\r\n", "\n") == "Zurück am Montag.\n"
    assert "In-Reply-To" not in parsed


def test_own_addresses() -> None:
    vacation = sieve.Vacation("x", addresses=("Bob <b@example.test>", "bob@old.example"))
    assert filters.own_addresses(BOB, vacation) == (BOB, "b@example.test", "bob@old.example")


def test_mailboxexists_sees_the_users_folders() -> None:
    source = 'require ["mailbox", "fileinto"];\nif mailboxexists "Work" { fileinto "Work"; }\n'
    present = filters.message_for(RAW, envelope_from="a@b.example", envelope_to=BOB,
                                  spam_score=None, spam_threshold=5.0, now=NOW, body=False,
                                  folders=frozenset({"Work"}))
    assert filters.decide(BOB, source, present).filings == (Filing(BOB, "Work"),)
    assert filters.decide(BOB, source, message()).filings == (Filing(BOB),)
