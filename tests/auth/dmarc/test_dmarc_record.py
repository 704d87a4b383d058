"""DMARC record parsing (auth/dmarc/record.py) and the tag-list syntax it rests on."""

import pytest

from postoffice.auth.dmarc import (
    Alignment,
    DmarcRecordError,
    Policy,
    RecordFault,
    ReportUri,
    is_dmarc_record,
    parse_record,
)
from postoffice.auth.taglist import TagListError, parse_tags


def test_tag_lists() -> None:
    assert parse_tags(" v = DMARC1 ;p=none; ") == [("v", "DMARC1"), ("p", "none")]
    assert parse_tags("") == []
    for bad in ("v=DMARC1; junk", "v=DMARC1; p=none; P=reject", "v=DMARC1; 1x=y"):
        with pytest.raises(TagListError):
            parse_tags(bad)


def test_full_record() -> None:
    record = parse_record(
        "v=DMARC1; p=Reject; sp=quarantine; np=reject; pct=25; adkim=s; aspf=R;"
        " rua=mailto:agg@example.org!10m, mailto:other@example.net;"
        " ruf=mailto:fail@example.org!512; fo=1:d; rf=afrf; ri=3600; psd=n; t=y"
    )
    assert record.policy is Policy.REJECT
    assert record.subdomain_policy is Policy.QUARANTINE
    assert record.nonexistent_policy is Policy.REJECT
    assert record.percent == 25
    assert (record.adkim, record.aspf) == (Alignment.STRICT, Alignment.RELAXED)
    assert record.rua == (ReportUri("mailto:agg@example.org", 10 * 2**20),
                          ReportUri("mailto:other@example.net"))
    assert record.ruf == (ReportUri("mailto:fail@example.org", 512),)
    assert record.failure_options == ("1", "d")
    assert record.report_formats == ("afrf",)
    assert record.interval == 3600
    assert record.problems == ()


def test_defaults() -> None:
    record = parse_record("v=DMARC1; p=none")
    assert record.subdomain_policy is None and record.nonexistent_policy is None
    assert record.percent == 100 and record.interval == 86400
    assert record.adkim is record.aspf is Alignment.RELAXED
    assert record.rua == record.ruf == ()
    assert record.failure_options == ("0",) and record.report_formats == ("afrf",)


def test_version_must_come_first_and_match_exactly() -> None:
    assert is_dmarc_record("v=DMARC1; p=none") and is_dmarc_record(" V = DMARC1")
    assert is_dmarc_record("v=DMARC1")
    for text in ("p=none; v=DMARC1", "v=DMARC10; p=none", "v=dmarc1; p=none", "v=spf1 -all"):
        assert not is_dmarc_record(text)
        with pytest.raises(DmarcRecordError) as caught:
            parse_record(text)
        assert caught.value.fault is RecordFault.NOT_DMARC
    with pytest.raises(DmarcRecordError) as caught:
        parse_record("  ")
    assert caught.value.fault is RecordFault.EMPTY


def test_policy_is_required_unless_rua_allows_the_fallback() -> None:
    cases = {
        "v=DMARC1; pct=100": RecordFault.MISSING_POLICY,
        "v=DMARC1; p=bogus": RecordFault.BAD_POLICY,
        "v=DMARC1; p=reject; sp=bogus": RecordFault.BAD_POLICY,
        "v=DMARC1; p=none; garbage": RecordFault.SYNTAX,
    }
    for text, fault in cases.items():
        with pytest.raises(DmarcRecordError) as caught:
            parse_record(text)
        assert caught.value.fault is fault, text
    # RFC 7489 6.6.3 step 6: with a valid rua=, read as p=none so that reports still flow
    for text in ("v=DMARC1; rua=mailto:d@example.org", "v=DMARC1; p=bogus; rua=mailto:d@example.org",
                 "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.org"):
        record = parse_record(text)
        assert record.policy is Policy.NONE and record.subdomain_policy is None
        assert "read as p=none" in record.problems[-1]
    with pytest.raises(DmarcRecordError):
        parse_record("v=DMARC1; p=bogus; rua=not-a-uri")


def test_bad_optional_values_fall_back_to_defaults_and_are_reported() -> None:
    record = parse_record(
        "v=DMARC1; p=reject; np=maybe; pct=500; adkim=x; aspf=; fo=0:z; rf=bob; ri=soon;"
        " rua=mailto:ok@example.org, no-scheme"
    )
    assert record.policy is Policy.REJECT and record.nonexistent_policy is None
    assert record.percent == 100 and record.interval == 86400
    assert record.adkim is record.aspf is Alignment.RELAXED
    assert record.failure_options == ("0",) and record.report_formats == ("afrf",)
    assert record.rua == (ReportUri("mailto:ok@example.org"),)
    assert len(record.problems) == 8
    assert any("pct=500" in p for p in record.problems)
    assert any("no-scheme" in p for p in record.problems)


def test_unknown_tags_are_ignored() -> None:
    assert parse_record("v=DMARC1; p=quarantine; foo=bar; buzz=happy;").problems == ()
