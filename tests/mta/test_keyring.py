"""The keyring of sending domains: which domain a message is signed as."""

import datetime as dt
from pathlib import Path

import dkim
import pytest

from postoffice.clock import SYSTEM_CLOCK
from postoffice.mta.dkim import Keyring, author_domain

BODY = b"To: x@remote.example\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.mark.parametrize("header, domain", [
    (b"From: Bob <bob@Example.COM>", "example.com"),
    (b"From: bob@ex.org", "ex.org"),
    (b'From: "a@b" <c@d.org>', "d.org"),
    (b"From: =?utf-8?q?B=C3=B6b?= <bob@x.example>", "x.example"),
    (b"From: Bob\r\n <bob@folded.example>", "folded.example"),
    (b"From: a@b.org, c@d.org", None),  # two authors: no single domain
    (b"From: a@b.org\r\nFrom: c@d.org", None),
    (b"Sender: a@b.org", None),
])
def test_author_domain(header: bytes, domain: str | None) -> None:
    assert author_domain(header + b"\r\n" + BODY) == domain


def test_signs_as_the_author_domain_when_it_has_keys(tmp_path: Path) -> None:
    ring = Keyring(tmp_path)
    ring.create("brand.example", dt.date(2026, 11, 1))
    ring.create("bounces.example", dt.date(2026, 11, 1))
    sign = ring.signer(SYSTEM_CLOCK)
    message = b"From: News <news@brand.example>\r\n" + BODY
    fields = sign(message, "bounces.example")  # the envelope sender's domain differs
    assert fields.count(b"DKIM-Signature:") == 2 and b"d=brand.example;" in fields
    assert b"d=bounces.example" not in fields
    # A From domain without keys: the envelope domain's keys sign.
    other = b"From: someone@elsewhere.example\r\n" + BODY
    assert b"d=bounces.example;" in sign(other, "bounces.example")
    assert sign(other, "nokeys.example") == b""


def test_signature_verifies_with_dkimpy(tmp_path: Path) -> None:
    ring = Keyring(tmp_path)
    ring.create("brand.example", dt.date(2026, 11, 1))
    records = {r.name.encode() + b".": r.value.encode() for r in ring.records("brand.example")}
    message = b"From: News <news@brand.example>\r\n" + BODY
    signed = ring.signer(SYSTEM_CLOCK)(message, "") + message
    for index in range(2):
        assert dkim.DKIM(signed).verify(idx=index, dnsfunc=lambda name, timeout=5: records[name])
