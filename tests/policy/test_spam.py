"""The spam score: each rule, the verdict thresholds, the X-Spam-* fields, malformed input."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.policy.spam import (
    RULES,
    Evidence,
    SpamReport,
    combined,
    dnsbl_rule,
    header_fields,
    score,
    verdict_for,
)

HEADER = (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Lunch\r\n"
          b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n"
          b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n")
CLEAN = Evidence(client_ip="192.0.2.1", helo="mail.example.org", header=HEADER,
                 body=b"Lunch at noon?\r\n", spf="pass", dkim=("pass",), dkim_aligned_pass=True,
                 dmarc="pass", arc="none", iprev="pass", our_names=("mx.example.net",))


def names(evidence: Evidence) -> set[str]:
    return set(score(evidence).names)


def with_header(evidence: Evidence, drop: bytes = b"", add: bytes = b"") -> Evidence:
    lines = [line for line in evidence.header.split(b"\r\n")
             if line and not (drop and line.lower().startswith(drop.lower()))]
    return replace(evidence, header=b"\r\n".join(lines) + b"\r\n" + add)


def test_clean_message_scores_below_zero() -> None:
    report = score(CLEAN)
    assert set(report.names) == {"DKIM_ALIGNED_PASS", "DMARC_PASS"}
    assert report.score == -2.0
    assert verdict_for(report, 5.0, 15.0) == "accept"


def test_rules_come_with_table_weights_and_reasons() -> None:
    report = score(replace(CLEAN, spf="fail", dkim=(), dmarc="fail", dkim_aligned_pass=False))
    assert report.rules == (("SPF_FAIL", *RULES["SPF_FAIL"]), ("NO_DKIM", *RULES["NO_DKIM"]),
                            ("DMARC_FAIL", *RULES["DMARC_FAIL"]))
    assert report.score == 3.5 + 0.5 + 2.5


def test_spf() -> None:
    assert "SPF_FAIL" in names(replace(CLEAN, spf="fail"))
    assert "SPF_SOFTFAIL" in names(replace(CLEAN, spf="softfail"))
    for word in ("pass", "neutral", "none", "temperror", "permerror", ""):
        assert not {"SPF_FAIL", "SPF_SOFTFAIL"} & names(replace(CLEAN, spf=word))


def test_dkim() -> None:
    plain = replace(CLEAN, dkim_aligned_pass=False)
    assert "NO_DKIM" in names(replace(plain, dkim=()))
    assert "NO_DKIM" in names(replace(plain, dkim=("none",)))
    assert "DKIM_FAIL" in names(replace(plain, dkim=("fail",)))
    assert "DKIM_FAIL" in names(replace(plain, dkim=("permerror", "neutral")))
    # One good signature is enough (a list footer breaks the author's, the list's verifies).
    assert not {"DKIM_FAIL", "NO_DKIM"} & names(replace(plain, dkim=("fail", "pass")))
    assert not {"DKIM_FAIL", "NO_DKIM"} & names(replace(plain, dkim=("temperror",)))
    assert "DKIM_ALIGNED_PASS" not in names(plain)
    assert "DKIM_ALIGNED_PASS" not in names(replace(CLEAN, dkim=("fail",)))


def test_dmarc_fail_counts_only_when_the_policy_asks_nothing() -> None:
    failed = replace(CLEAN, dmarc="fail")
    assert "DMARC_FAIL" in names(failed)
    # Quarantine and reject are acted on by policy.inbound.decide; not counted twice.
    assert "DMARC_FAIL" not in names(replace(failed, dmarc_disposition="quarantine"))
    assert "DMARC_FAIL" not in names(replace(failed, dmarc_disposition="reject"))
    assert not {"DMARC_FAIL", "DMARC_PASS"} & names(replace(CLEAN, dmarc="none"))


def test_arc_and_iprev() -> None:
    assert "ARC_FAIL" in names(replace(CLEAN, arc="fail"))
    assert "ARC_FAIL" not in names(replace(CLEAN, arc="pass"))
    assert "IPREV_FAIL" in names(replace(CLEAN, iprev="fail"))
    assert "IPREV_FAIL" in names(replace(CLEAN, iprev="permerror"))
    assert "IPREV_FAIL" not in names(replace(CLEAN, iprev="temperror"))


def test_helo() -> None:
    assert "HELO_IS_OURS" in names(replace(CLEAN, helo="MX.Example.NET."))
    assert "HELO_IP_LITERAL_MISMATCH" in names(replace(CLEAN, helo="[198.51.100.7]"))
    assert "HELO_IP_LITERAL_MISMATCH" in names(replace(CLEAN, helo="198.51.100.7"))
    assert not names(replace(CLEAN, helo="[192.0.2.1]")) & {"HELO_IP_LITERAL_MISMATCH",
                                                            "HELO_NOT_FQDN"}
    v6 = replace(CLEAN, client_ip="2001:db8::1")
    assert "HELO_IP_LITERAL_MISMATCH" not in names(replace(v6, helo="[IPv6:2001:DB8::1]"))
    assert "HELO_IP_LITERAL_MISMATCH" in names(replace(v6, helo="[IPv6:2001:db8::2]"))
    mapped = replace(CLEAN, client_ip="::ffff:192.0.2.1", helo="[192.0.2.1]")
    assert "HELO_IP_LITERAL_MISMATCH" not in names(mapped)
    for helo in ("localhost", "WIN-7QK2M", "", "bad_name.example", "1.2.3.4", "[garbage]"):
        assert "HELO_NOT_FQDN" in names(replace(CLEAN, helo=helo)), helo
    assert "HELO_NOT_FQDN" not in names(replace(CLEAN, helo="mail-7.eu.example.com"))


def test_dnsbl_rules_take_the_configured_weight() -> None:
    report = score(replace(CLEAN, dnsbl={"zen.spamhaus.example": 6.0, "bl.other-list.test.": 1.5}))
    assert report.rules[-2:] == (
        ("DNSBL_ZEN_SPAMHAUS_EXAMPLE", 6.0, "the client IP is listed on zen.spamhaus.example"),
        ("DNSBL_BL_OTHER_LIST_TEST", 1.5, "the client IP is listed on bl.other-list.test."))
    assert report.score == -2.0 + 7.5
    assert dnsbl_rule("b.barracudacentral.org") == "DNSBL_B_BARRACUDACENTRAL_ORG"


def test_missing_date_and_message_id() -> None:
    assert "MISSING_DATE" in names(with_header(CLEAN, drop=b"Date:"))
    assert "MISSING_MESSAGE_ID" in names(with_header(CLEAN, drop=b"Message-ID:"))
    assert "MISSING_MESSAGE_ID" not in names(with_header(CLEAN, drop=b"Message-ID:",
                                                         add=b"Message-Id: <2@x.example>\r\n"))


def from_(value: bytes) -> Evidence:
    return with_header(CLEAN, drop=b"From:", add=b"From: " + value + b"\r\n")


def test_from_display_name_showing_another_address_or_domain() -> None:
    mismatch = "FROM_DISPLAY_NAME_ADDRESS_MISMATCH"
    assert mismatch in names(from_(b'"service@paypal.com" <x@evil.example>'))
    assert mismatch in names(from_(b"PayPal.com Support <x@evil.example>"))
    assert mismatch in names(from_(b"=?utf-8?q?billing=40bank=2Ecom?= <x@evil.example>"))
    # An address counts whatever its TLD; a bare word only with a common TLD.
    assert mismatch in names(from_(b'"ceo@corp.internal" <x@evil.example>'))
    assert mismatch not in names(from_(b"J.Smith <j@example.org>"))
    assert mismatch not in names(from_(b"Dr.Who <who@example.org>"))
    # The same site is no mismatch.
    assert mismatch not in names(from_(b'"alice@example.org" <alice@example.org>'))
    assert mismatch not in names(from_(b"Example.org News <news@mail.example.org>"))
    assert mismatch not in names(from_(b"support@shop.example.com <x@example.com>"))
    assert mismatch not in names(from_(b"Alice <alice@example.org>"))
    assert mismatch not in names(from_(b"alice@example.org"))


def test_subject_all_caps() -> None:
    def subject(text: bytes) -> set[str]:
        return names(with_header(CLEAN, drop=b"Subject:", add=b"Subject: " + text + b"\r\n"))
    assert "SUBJECT_ALL_CAPS" in subject(b"FREE MONEY WAITING NOW")
    assert "SUBJECT_ALL_CAPS" in subject(b"=?utf-8?b?" + base64.b64encode(
        "GRATUIT: ÉNORME OFFRE".encode()) + b"?=")
    assert "SUBJECT_ALL_CAPS" not in subject(b"URGENT")  # too short to mean anything
    assert "SUBJECT_ALL_CAPS" not in subject(b"Meeting notes for NASA and ESA")
    assert "SUBJECT_ALL_CAPS" not in subject("会議の議事録と次回の予定について".encode())


def mime(content_type: bytes, body: bytes) -> Evidence:
    return replace(with_header(CLEAN, drop=b"Content-Type:",
                               add=b"Content-Type: " + content_type + b"\r\n"), body=body)


ALTERNATIVE = (b'multipart/alternative; boundary="b1"', b"--b1\r\nContent-Type: text/plain\r\n\r\n"
               b"hi\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b1--\r\n")


def test_html_only() -> None:
    assert "HTML_ONLY" in names(mime(b"text/html; charset=utf-8", b"<p>hi</p>"))
    assert "HTML_ONLY" not in names(mime(*ALTERNATIVE))
    html_alternatives = (b'multipart/alternative; boundary="b1"', b"--b1\r\nContent-Type: "
                         b"text/html\r\n\r\n<p>hi</p>\r\n--b1--\r\n")
    assert "HTML_ONLY" in names(mime(*html_alternatives))
    # The first part of multipart/mixed is the text; an HTML attachment after it is not.
    mixed = (b"--m\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--m\r\n"
             b"Content-Type: text/plain\r\n\r\nnotes\r\n--m--\r\n")
    assert "HTML_ONLY" in names(mime(b"multipart/mixed; boundary=m", mixed))
    attachment = (b"--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--m\r\n"
                  b"Content-Type: text/html\r\n\r\n<p>report</p>\r\n--m--\r\n")
    assert "HTML_ONLY" not in names(mime(b"multipart/mixed; boundary=m", attachment))
    # A prefix cut inside the alternative still tells.
    cut = html_alternatives[1][:40]
    assert "HTML_ONLY" in names(mime(html_alternatives[0], cut))
    assert "HTML_ONLY" not in names(CLEAN)


def test_urls() -> None:
    many = b"\r\n".join(b"https://news.example.org/item/%d" % i for i in range(26))
    assert "MANY_URLS" in names(replace(CLEAN, body=many))
    assert "MANY_URLS" not in names(replace(CLEAN, body=many.rsplit(b"\r\n", 1)[0]))
    # The same link many times is one URL.
    assert "MANY_URLS" not in names(replace(CLEAN, body=b"http://example.org/x " * 50))
    assert "URL_SHORTENER" in names(replace(CLEAN, body=b"Claim it: https://bit.ly/3xYz."))
    assert "URL_SHORTENER" in names(replace(CLEAN, body=b"<a href='http://WWW.TinyURL.com/a'>x</a>"))
    assert "URL_SHORTENER" not in names(replace(CLEAN, body=b"https://bit.ly.example.org/a"))
    assert "URL_SHORTENER" not in names(replace(CLEAN, body=b"bit.ly/abc, without a scheme"))


def test_urls_are_found_in_encoded_parts() -> None:
    qp = replace(with_header(CLEAN, add=b"Content-Transfer-Encoding: quoted-printable\r\n"),
                 body=b"Go to https://bit=\r\n.ly/abc=3D now\r\n")
    assert "URL_SHORTENER" in names(qp)
    b64 = replace(with_header(CLEAN, add=b"Content-Transfer-Encoding: base64\r\n"),
                  body=base64.encodebytes(b"see https://is.gd/xyz"))
    assert "URL_SHORTENER" in names(b64)


def test_verdict_thresholds() -> None:
    def at(value: float) -> str:
        return verdict_for(SpamReport(value, ()), 5.0, 15.0)
    assert [at(4.99), at(5.0), at(14.9), at(15.0), at(-3)] == [
        "accept", "junk", "junk", "reject", "accept"]


def test_plus_adds_a_rule() -> None:
    report = score(CLEAN).plus("RSPAMD", 7.25, "Rspamd: 7.25 (add header)")
    assert report.score == 5.25
    assert report.names[-1] == "RSPAMD"


def test_header_fields() -> None:
    report = score(replace(CLEAN, spf="fail", dkim=(), dmarc="fail", dkim_aligned_pass=False,
                           helo="localhost"))
    assert report.score == 7.5
    assert header_fields(report, junk_score=5.0) == (
        b"X-Spam-Score: 7.5\r\n"
        b"X-Spam-Status: Yes, score=7.5 required=5.0 tests=DMARC_FAIL,HELO_NOT_FQDN,\r\n"
        b"\tNO_DKIM,SPF_FAIL\r\n"
        b"X-Spam-Flag: YES\r\n")
    assert header_fields(score(CLEAN), junk_score=5.0) == (
        b"X-Spam-Score: -2.0\r\n"
        b"X-Spam-Status: No, score=-2.0 required=5.0 tests=DKIM_ALIGNED_PASS,DMARC_PASS\r\n")
    assert header_fields(SpamReport(0.0, ()), junk_score=5.0, junk=True).endswith(
        b"tests=none\r\nX-Spam-Flag: YES\r\n")


def test_long_status_is_folded() -> None:
    zones = {f"list{i}.blocklist.example": 1.0 for i in range(12)}
    fields = header_fields(score(replace(CLEAN, dnsbl=zones)), junk_score=5.0)
    lines = fields.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith((b"X-Spam-", b"\t")) for line in lines if line)
    unfolded = fields.replace(b"\r\n\t", b"")
    assert b"DNSBL_LIST11_BLOCKLIST_EXAMPLE" in unfolded


@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=600), body=st.binary(max_size=600), helo=st.text(max_size=40),
       ip=st.text(max_size=40))
def test_never_raises_on_malformed_input(header: bytes, body: bytes, helo: str, ip: str) -> None:
    report = score(Evidence(client_ip=ip, helo=helo, header=header, body=body))
    verdict_for(report, 5.0, 15.0)
    header_fields(report, junk_score=5.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    b"From: ", b"=?utf-8?b?", b"?=", b"=?x-unknown?q?", b"<", b">", b"@", b'"', b"\r\n", b"\r\n ",
    b"Content-Type: multipart/alternative; boundary=", b"--", b"Subject: ", b"text/html",
    b"Content-Transfer-Encoding: base64", b"quoted-printable", b"\xff\xfe", b"http://", b"a.com",
]), max_size=40))
def test_never_raises_on_header_like_noise(pieces: list[bytes]) -> None:
    text = b"".join(pieces)
    score(Evidence(client_ip="192.0.2.1", helo="x", header=text, body=text))


def test_combined_verdict_keeps_the_stronger() -> None:
    assert combined("accept", "junk") == "junk"
    assert combined("junk", "accept") == "junk"
    assert combined("junk", "reject") == "reject"
    assert combined("reject", "accept") == "reject"
    assert combined("tempfail", "reject") == "tempfail"
    assert combined("accept", "accept") == "accept"


def test_docs_table_matches_the_rules() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "spam-filtering.md").read_text()
    rows = dict(re.findall(r"^\| ([A-Z_]+) \| (-?[0-9.]+) \|", doc, re.MULTILINE))
    assert {name: float(weight) for name, weight in rows.items()} == {
        name: weight for name, (weight, _) in RULES.items()}


@pytest.mark.parametrize("sender, hit", [
    ("support@p\u0430ypal.com", True),           # Cyrillic a among Latin letters
    ("support@xn--pypal-4ve.com", True),         # the same, as the DNS writes it
    ("info@b\u00fccher.example", False),         # a real IDN: Latin letters only
    ("info@\u043f\u0440\u0438\u043c\u0435\u0440.example", False),  # all Cyrillic
    ("support@paypal.com", False),
])
def test_lookalike_from_domains(sender: str, hit: bool) -> None:
    from postoffice.policy.spam import Evidence, score

    header = f"From: Support <{sender}>\r\nDate: x\r\nMessage-ID: <1@x>\r\nSubject: hi\r\n\r\n".encode()
    report = score(Evidence(client_ip="192.0.2.1", helo="mx.example.org", header=header))
    assert ("FROM_LOOKALIKE_DOMAIN" in report.names) is hit
