"""Suite-shaped zone data (auth/zonedata.py): the SPF type, TXT: NONE, TIMEOUT, clear errors."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from postoffice.auth.dns import DnsError, MxRecord, RRType, TxtRecord, lookup, run_sync
from postoffice.auth.zonedata import ZoneDataError, suite_zone_data, zone_from_suite_data

DATA = {
    "spfonly.example": [{"SPF": "v=spf1 -all"}],
    "both.example": [{"SPF": "v=spf1 +all"}, {"TXT": "v=spf1 -all"}],
    "none.example": [{"SPF": "v=spf1 -all"}, {"TXT": "NONE"}],
    "slow.example": [{"SPF": "v=spf1 -all"}, {"TXT": "NONE"}, "TIMEOUT"],
    "parts.example": [{"SPF": ["v=spf1 ", "-all"]}, {"SPF": []}],
    "mx.example": [{"MX": [0, ""]}, {"MX": [10, "mx1.mx.example."]}, {"A": "192.0.2.1", "TTL": 60}],
    "alias.example": [{"CNAME": "spfonly.example"}],
}


def answer(name: str, rdtype: RRType) -> object:
    a = run_sync(lookup(name, rdtype), zone_from_suite_data(DATA))
    return a.error if a.error else a.records


def test_spf_records_become_txt_records_unless_the_name_has_txt_entries() -> None:
    assert answer("spfonly.example", RRType.TXT) == (TxtRecord((b"v=spf1 -all",)),)
    assert answer("both.example", RRType.TXT) == (TxtRecord((b"v=spf1 -all",)),)
    assert answer("none.example", RRType.TXT) is DnsError.NODATA
    assert answer("slow.example", RRType.TXT) is DnsError.TIMEOUT
    assert answer("parts.example", RRType.TXT) == (TxtRecord((b"v=spf1 ", b"-all")), TxtRecord(()))
    assert answer("alias.example", RRType.TXT) == (TxtRecord((b"v=spf1 -all",)),)


def test_other_types_and_absent_names() -> None:
    assert answer("mx.example", RRType.MX) == (MxRecord(0, "."), MxRecord(10, "mx1.mx.example"))
    assert answer("mx.example", RRType.A) == (IPv4Address("192.0.2.1"),)
    assert answer("nowhere.example", RRType.A) is DnsError.NXDOMAIN


def test_the_converted_data_is_plain_zone_data() -> None:
    converted = suite_zone_data(DATA)
    assert converted["none.example"] == []
    assert converted["slow.example"] == ["TIMEOUT"]
    assert converted["mx.example"][2] == {"A": "192.0.2.1", "TTL": 60}


@pytest.mark.parametrize(("data", "message"), [
    ([], "expected a mapping of names"),
    ({1: []}, "name 1 is not a string"),
    ({"a.example": "v=spf1"}, "'a.example': expected a list of records"),
    ({"a.example": ["SLOW"]}, "'a.example' entry 1: unknown marker 'SLOW'"),
    ({"a.example": [{"A": "192.0.2.1"}, {"A": "192.0.2.300"}]},
     "'a.example' entry 2: A needs an IPv4 address, got '192.0.2.300'"),
    ({"a.example": [{"MX": "mx.example"}]}, "entry 1: MX needs [preference, host], got 'mx.example'"),
    ({"a.example": [{"TXT": 42}]}, "entry 1: TXT needs a string or a list of strings, got 42"),
    ({"a.example": [{"SRV": "x"}]}, "entry 1: expected one record type of A, AAAA"),
    ({"a.example": [{"A": "192.0.2.1", "AAAA": "::1"}]}, "entry 1: expected one record type"),
    ({"a.example": [{"CNAME": "b.example"}, {"A": "192.0.2.1"}]}, "a CNAME cannot have other records"),
    ({"a.example": [{"A": "192.0.2.1", "TTL": -5}]}, "bad TTL -5"),
])
def test_malformed_data_is_reported_clearly(data: object, message: str) -> None:
    with pytest.raises(ZoneDataError, match="^zone data: ") as raised:
        zone_from_suite_data(data)
    assert message in str(raised.value)
