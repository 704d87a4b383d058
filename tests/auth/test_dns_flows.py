"""DNS query/answer types and generator flows run on in-memory zones (auth/dns.py)."""

from ipaddress import IPv4Address, IPv6Address

import pytest

from postoffice.auth.dns import (
    DnsAnswer,
    DnsError,
    DnsQuery,
    Flow,
    MxRecord,
    RRType,
    TxtRecord,
    Zone,
    lookup,
    lookup_all,
    normalize_name,
    run_sync,
)

ZONE = {
    "Example.ORG.": [
        {"MX": [10, "mx1.example.org."]},
        {"MX": [20, "mx2.example.org"]},
        {"TXT": "v=spf1 a mx -all", "TTL": 60},
        {"A": "192.0.2.1"},
    ],
    "mx1.example.org": [{"A": "192.0.2.10"}, {"AAAA": "2001:db8::10", "TTL": 30}],
    "long.example.org": [{"TXT": ["v=spf1 ", "ip4:192.0.2.0/24", " -all"]}],
    "raw.example.org": [{"TXT": b"\xff\x00binary"}],
    "www.example.org": [{"CNAME": "Example.org."}],
    "chain.example.org": [{"CNAME": "www.example.org", "TTL": 10}],
    "loop1.example.org": [{"CNAME": "loop2.example.org"}],
    "loop2.example.org": [{"CNAME": "loop1.example.org"}],
    "deep.a.b.example.org": [{"A": "192.0.2.99"}],
    "4.2.0.192.in-addr.arpa": [{"PTR": "mx1.example.org."}],
    # the RFC 7208 suite's TIMEOUT: types with records answer, the others time out
    "spftimeout.example.net": [{"TXT": "v=spf1 -all"}, "TIMEOUT"],
    "alltimeout.example.net": ["TIMEOUT"],
    "broken.example.net": ["SERVFAIL"],
}


def answer(name: str, rdtype: RRType) -> DnsAnswer:
    return run_sync(lookup(name, rdtype), ZONE)


def test_names_are_normalised() -> None:
    assert normalize_name("Example.ORG.") == "example.org"
    assert normalize_name(".") == normalize_name("") == "."
    assert DnsQuery("MX1.Example.org.", RRType.A) == DnsQuery("mx1.example.org", RRType.A)
    assert MxRecord(0, ".").is_null and not MxRecord(0, "mx.example").is_null
    assert str(DnsQuery("example.org", RRType.TXT)) == "example.org TXT"


def test_answer_is_records_or_error() -> None:
    q = DnsQuery("example.org", RRType.A)
    with pytest.raises(ValueError):
        DnsAnswer(q)
    with pytest.raises(ValueError):
        DnsAnswer(q, (IPv4Address("192.0.2.1"),), 60, DnsError.SERVFAIL)
    with pytest.raises(TypeError):
        DnsAnswer(q, (IPv6Address("::1"),), 60)
    with pytest.raises(ValueError):
        DnsAnswer(q, (IPv4Address("192.0.2.1"),), -1)
    failure = DnsAnswer.failure(q, DnsError.TIMEOUT, detail="no reply")
    assert failure.temporary and not failure.ok and failure.detail == "no reply"
    assert DnsError.SERVFAIL.temporary and not DnsError.NXDOMAIN.temporary
    assert not DnsError.NODATA.temporary


def test_records_of_each_type() -> None:
    mx = answer("example.org", RRType.MX)
    assert mx.ok and mx.mx == (MxRecord(10, "mx1.example.org"), MxRecord(20, "mx2.example.org"))
    assert answer("mx1.example.org", RRType.A).addresses == (IPv4Address("192.0.2.10"),)
    aaaa = answer("mx1.example.org", RRType.AAAA)
    assert aaaa.addresses == (IPv6Address("2001:db8::10"),) and aaaa.ttl == 30
    txt = answer("example.org", RRType.TXT)
    assert txt.texts == ("v=spf1 a mx -all",) and txt.ttl == 60
    assert answer("4.2.0.192.in-addr.arpa", RRType.PTR).targets == ("mx1.example.org",)


def test_txt_strings_are_joined_without_spaces() -> None:
    txt = answer("long.example.org", RRType.TXT)
    (record,) = txt.records
    assert isinstance(record, TxtRecord)
    assert record.strings == (b"v=spf1 ", b"ip4:192.0.2.0/24", b" -all")
    assert txt.texts == ("v=spf1 ip4:192.0.2.0/24 -all",)
    raw = answer("raw.example.org", RRType.TXT).records[0]
    assert isinstance(raw, TxtRecord) and raw.data == b"\xff\x00binary"
    assert raw.text == "\ufffd\x00binary"


def test_nxdomain_nodata_and_empty_non_terminals() -> None:
    assert answer("nope.example.org", RRType.A).error is DnsError.NXDOMAIN
    assert answer("mx1.example.org", RRType.TXT).error is DnsError.NODATA
    # b.example.org has no records but a name below it: it exists (RFC 8020)
    assert answer("b.example.org", RRType.A).error is DnsError.NODATA
    assert answer("deep.a.b.example.org", RRType.A).ok


def test_cnames_are_followed() -> None:
    a = answer("chain.example.org", RRType.A)
    assert a.addresses == (IPv4Address("192.0.2.1"),)
    assert a.canonical_name == "example.org" and a.name == "example.org"
    assert a.ttl == 10  # the smallest TTL along the chain
    assert answer("www.example.org", RRType.MX).mx[0].exchange == "mx1.example.org"
    assert answer("example.org", RRType.A).canonical_name is None
    loop = answer("loop1.example.org", RRType.A)
    assert loop.error is DnsError.SERVFAIL and "loop" in loop.detail


def test_timeout_and_servfail_markers() -> None:
    assert answer("spftimeout.example.net", RRType.TXT).texts == ("v=spf1 -all",)
    assert answer("spftimeout.example.net", RRType.A).error is DnsError.TIMEOUT
    assert answer("alltimeout.example.net", RRType.TXT).error is DnsError.TIMEOUT
    broken = answer("broken.example.net", RRType.MX)
    assert broken.error is DnsError.SERVFAIL and broken.temporary


def test_zone_data_errors() -> None:
    with pytest.raises(ValueError, match="unsupported record type"):
        Zone.from_data({"x.example": [{"SPF": "v=spf1 -all"}]})
    with pytest.raises(ValueError, match="bad A address"):
        Zone.from_data({"x.example": [{"A": "not-an-ip"}]})
    with pytest.raises(ValueError, match="unknown marker"):
        Zone.from_data({"x.example": ["NXDOMAIN"]})
    with pytest.raises(ValueError, match="CNAME"):
        Zone.from_data({"x.example": [{"CNAME": "y.example"}, {"A": "192.0.2.1"}]})
    with pytest.raises(ValueError, match="bad MX"):
        Zone.from_data({"x.example": [{"MX": "10 mx.example"}]})
    with pytest.raises(ValueError, match="list of records"):
        Zone.from_data({"x.example": "A 192.0.2.1"})  # type: ignore[dict-item]


def spf_like(domain: str) -> Flow[tuple[str, list[str]]]:
    """A small evaluator: the TXT record, then the addresses of every MX host at once."""
    txt = yield from lookup(domain, RRType.TXT)
    mx = yield from lookup(domain, RRType.MX)
    answers = yield from lookup_all(DnsQuery(r.exchange, RRType.A) for r in mx.mx)
    addresses = [str(a) for ans in answers for a in ans.addresses]
    return txt.texts[0], addresses


def test_flows_yield_queries_and_batches() -> None:
    assert run_sync(spf_like("example.org"), ZONE) == ("v=spf1 a mx -all", ["192.0.2.10"])
    # run_sync takes a prepared Zone too, and answers the same
    assert run_sync(spf_like("example.org"), Zone.from_data(ZONE))[1] == ["192.0.2.10"]


def test_batch_answers_keep_order_and_empty_batch_asks_nothing() -> None:
    def flow() -> Flow[list[DnsError | None]]:
        nothing = yield from lookup_all([])
        assert nothing == ()
        answers = yield from lookup_all(
            [DnsQuery("nope.example.org", RRType.A), DnsQuery("example.org", RRType.A)]
        )
        return [a.error for a in answers]

    assert run_sync(flow(), ZONE) == [DnsError.NXDOMAIN, None]


def test_flow_exceptions_propagate_and_immediate_results_work() -> None:
    def failing() -> Flow[int]:
        yield from lookup("example.org", RRType.A)
        raise RuntimeError("evaluator bug")

    with pytest.raises(RuntimeError, match="evaluator bug"):
        run_sync(failing(), ZONE)

    def immediate() -> Flow[int]:
        return 42
        yield  # pragma: no cover - makes this a generator

    assert run_sync(immediate(), ZONE) == 42


def test_lookup_rejects_a_wrong_answer() -> None:
    flow = lookup("example.org", RRType.A)
    assert next(flow) == DnsQuery("example.org", RRType.A)
    with pytest.raises(TypeError):
        flow.send(DnsAnswer.failure(DnsQuery("other.example", RRType.A), DnsError.NXDOMAIN))
