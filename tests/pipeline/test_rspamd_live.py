"""The Rspamd client against a real Rspamd (Debian's rspamd) on loopback, stock rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from postoffice.pipeline.rspamd import RspamdResult, check
from postoffice.testing.rspamd import Rspamd

pytestmark = pytest.mark.peer

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
PLAIN = (b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Lunch\r\n"
         b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
         b"Hi Bob, lunch at noon tomorrow?\r\n\r\nAlice\r\n")


@pytest.fixture(scope="module")
def rspamd() -> Iterator[Rspamd]:
    with Rspamd() as server:
        yield server


def ask(server: Rspamd, content: bytes, **kwargs: Any) -> RspamdResult:
    args: dict[str, Any] = dict(ip="192.0.2.1", helo="mail.example.org",
                                mail_from="alice@example.org", rcpts=["bob@example.net"],
                                queue_id="Q1", timeout=10.0)
    args.update(kwargs)
    return asyncio.run(check(server.url, content, **args))


def test_gtube_is_rejected(rspamd: Rspamd) -> None:
    result = ask(rspamd, PLAIN.replace(b"Hi Bob, lunch at noon tomorrow?", GTUBE.encode()))
    assert result.action == "reject"
    assert result.score >= result.required_score == 15.0
    assert "GTUBE" in result.symbols


def test_plain_message_scores_low(rspamd: Rspamd) -> None:
    result = ask(rspamd, PLAIN)
    assert result.action == "no action"
    assert result.score < 2.0
    assert not {"MISSING_DATE", "MISSING_MID"} & set(result.symbols)


def test_envelope_headers_are_understood(rspamd: Rspamd) -> None:
    # Rspamd matches the To addresses against the envelope: both Rcpt headers must arrive.
    to_two = PLAIN.replace(b"To: Bob <bob@example.net>", b"To: bob@example.net, carol@example.net")
    both = ask(rspamd, to_two, rcpts=["bob@example.net", "carol@example.net"])
    assert "TO_MATCH_ENVRCPT_ALL" in both.symbols
    one = ask(rspamd, to_two, rcpts=["carol@example.net"])
    assert "TO_MATCH_ENVRCPT_SOME" in one.symbols
    assert "FROM_EQ_ENVFROM" in both.symbols
    other = ask(rspamd, PLAIN, mail_from="bounces@lists.example.com")
    assert "FROM_NEQ_ENVFROM" in other.symbols
    bounce = ask(rspamd, PLAIN, mail_from="")
    assert not {"FROM_EQ_ENVFROM", "FROM_NEQ_ENVFROM"} & set(bounce.symbols)


def test_sloppy_message_scores_its_rules(rspamd: Rspamd) -> None:
    sloppy = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: FREE MONEY NOW\r\n\r\nx\r\n"
    result = ask(rspamd, sloppy)
    assert {"MISSING_DATE", "MISSING_MID", "SUBJ_ALL_CAPS"} <= set(result.symbols)
    assert result.score == pytest.approx(sum(result.symbols.values()))
    assert result.score > ask(rspamd, PLAIN).score
