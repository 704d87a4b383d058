"""BIMI records and header fields (auth/bimi/record.py)."""

import pytest

from postoffice.auth.bimi import (
    BimiRecord,
    BimiRecordError,
    bimi_record,
    is_bimi_record,
    location_field,
    parse_record,
    remove_receiver_fields,
    selector_from_field,
)

LOGO = "https://example.com/brand/logo.svg"
VMC = "https://example.com/brand/vmc.pem"


def test_records() -> None:
    assert parse_record(f"v=BIMI1; l={LOGO}; a={VMC};") == BimiRecord(LOGO, VMC)
    assert parse_record(f"v=BIMI1;l={LOGO}") == BimiRecord(LOGO)
    assert parse_record(f"v=BIMI1; l={LOGO}; avp=personal; lps=false; x=y").avatar_preference == "personal"
    assert parse_record(f"v=BIMI1; l={LOGO}; avp=whatever").avatar_preference == "brand"
    declined = parse_record("v=BIMI1; l=; a=;")
    assert declined.declined and declined == BimiRecord(None, None)
    evidence_only = parse_record(f"v=BIMI1; l=; a={VMC}")
    assert not evidence_only.declined and evidence_only.location is None


@pytest.mark.parametrize("text", [
    f"l={LOGO}; v=BIMI1",                     # v= must come first
    f"v=BIMI2; l={LOGO}",
    f"v=bimi1; l={LOGO}",                     # no fixing of capitalisation
    f"V=BIMI1; l={LOGO}",
    "v=BIMI1; a=",                            # l= is required
    f"v=BIMI1; L={LOGO}",
    "v=BIMI1; l=http://example.com/logo.svg",
    "v=BIMI1; l=https://localhost/logo.svg",  # not a fully qualified name
    f"v=BIMI1; l={LOGO},https://example.com/other.svg",
    "v=BIMI1; l=https://example.com/a logo.svg",
    f"v=BIMI1; l={LOGO}; a=ftp://example.com/vmc.pem",
    f"v=BIMI1; l={LOGO}; l={LOGO}",
    f"v=BIMI1; l={LOGO}; junk",
])
def test_bad_records(text: str) -> None:
    with pytest.raises(BimiRecordError):
        parse_record(text)
    assert is_bimi_record(text) == text.startswith("v=BIMI1;")


def test_our_own_record() -> None:
    assert bimi_record(LOGO) == f"v=BIMI1; l={LOGO};"
    assert bimi_record(LOGO, VMC) == f"v=BIMI1; l={LOGO}; a={VMC};"
    assert parse_record(bimi_record(LOGO, VMC)) == BimiRecord(LOGO, VMC)
    for bad in ("", "http://example.com/logo.svg", "https://example.com/x;y.svg"):
        with pytest.raises(BimiRecordError):
            bimi_record(bad)
    with pytest.raises(BimiRecordError):
        bimi_record(LOGO, "https://example.com/a,b.pem")


def test_selector_field() -> None:
    assert selector_from_field("v=BIMI1; s=Brand1;") == "brand1"
    assert selector_from_field("v=BIMI1; s=spring.2026") == "spring.2026"
    for bad in ("s=brand1", "v=BIMI1", "v=BIMI1; s=", "v=BIMI1; s=-x", "v=BIMI1; s=a b",
                "v=BIMI1; s=x._bimi.evil", "v=BIMI1; s=a;;"):
        assert selector_from_field(bad) is None, bad


def test_location_field() -> None:
    record = BimiRecord(LOGO, VMC)
    assert location_field(record) == f"BIMI-Location: v=BIMI1; l={LOGO}\r\n".encode()
    assert location_field(record, evidence_verified=True) == (
        f"BIMI-Location: v=BIMI1; l={LOGO}; a={VMC}\r\n".encode())
    with pytest.raises(BimiRecordError):
        location_field(BimiRecord(None, VMC))


def test_receiver_fields_are_removed_from_incoming_mail() -> None:
    message = (b"BIMI-Location: v=BIMI1; l=https://evil.example/logo.svg\r\n"
               b"From: a@example.com\r\n"
               b"bimi-indicator: PHN2Zz4=\r\n PC9zdmc+\r\n"
               b"BIMI-Selector: v=BIMI1; s=brand\r\n"
               b"BIMI-Logo-Preference: avp=personal\r\n"
               b"\r\n"
               b"BIMI-Location: stays in the body\r\n")
    assert remove_receiver_fields(message) == (
        b"From: a@example.com\r\nBIMI-Selector: v=BIMI1; s=brand\r\n\r\n"
        b"BIMI-Location: stays in the body\r\n")
