"""`domain check`'s comparisons, each on hand-made answers, and the DNS flow on zone data."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import asdict
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postoffice.auth.dkim.keys import generate_key, public_key_record
from postoffice.auth.dns import DnsAnswer, DnsError, DnsQuery, RRType, Zone, run_sync
from postoffice.auth.spf import SpfResult, SpfVerdict
from postoffice.mta.domain_check import Expected, all_pass, dns_rows
from postoffice.mta.record_checks import (
    Row,
    Status,
    dkim_row,
    dmarc_row,
    mx_row,
    policy_row,
    spf_row,
    sts_host_row,
    sts_txt_row,
    tlsrpt_row,
)
from postoffice.policy.mta_sts import parse_policy
from postoffice.policy.published import Publish, Record, mta_sts_id, mta_sts_policy
from postoffice.testing.dns import published_zone

D = "example.test"
ED25519 = public_key_record(generate_key("ed25519-sha256"))
OTHER_ED25519 = public_key_record(generate_key("ed25519-sha256"))


def answer(name: str, rdtype: RRType, *values: object) -> DnsAnswer:
    """The answer zone data with these records gives (none: NXDOMAIN)."""
    data = {name: [{str(rdtype): v} for v in values]} if values else {}
    return Zone.from_data(data).answer(DnsQuery(name, rdtype))


def txt(name: str, *texts: str) -> DnsAnswer:
    return answer(name, RRType.TXT, *texts)


def servfail(name: str, rdtype: RRType = RRType.TXT) -> DnsAnswer:
    return DnsAnswer.failure(DnsQuery(name, rdtype), DnsError.SERVFAIL, detail="127.0.0.1@53")


# --------------------------------------------------------------------------- MX

def test_mx_ours_pass_others_are_a_note() -> None:
    hosts = ("mx1.example.test", "mx2.example.test")
    both = answer(D, RRType.MX, [10, "mx1.example.test"], [20, "MX2.example.test."])
    row = mx_row(D, hosts, both)
    assert (row.status, row.advice) == (Status.PASS, "")
    extra = answer(D, RRType.MX, [10, "mx1.example.test"], [20, "mx2.example.test"],
                   [30, "backup.example.net"])
    row = mx_row(D, hosts, extra)
    assert row.status is Status.PASS and "backup.example.net" in row.advice


def test_mx_a_missing_host_is_wrong_and_none_is_missing() -> None:
    row = mx_row(D, ("mx1.example.test", "mx2.example.test"),
                 answer(D, RRType.MX, [10, "mx1.example.test"], [5, "old.example.net"]))
    assert row.status is Status.WRONG
    assert "add MX mx2.example.test" in row.advice and "old.example.net" in row.advice
    assert row.found == "10 mx1.example.test., 5 old.example.net."
    missing = mx_row(D, ("mx1.example.test",), answer(D, RRType.MX))
    assert missing.status is Status.MISSING and missing.expected == "10 mx1.example.test."
    failed = mx_row(D, ("mx1.example.test",), servfail(D, RRType.MX))
    assert failed.status is Status.WRONG and failed.found.startswith("lookup failed: servfail")


# --------------------------------------------------------------------------- SPF

def spf_result(verdict: SpfVerdict, ip: str, problem: str | None = None) -> SpfResult:
    return SpfResult(verdict, D, ipaddress.ip_address(ip), f"postmaster@{D}", problem=problem)


def test_spf_needs_exactly_one_record_passing_every_address() -> None:
    one = txt(D, "v=spf1 ip4:192.0.2.7 -all", "google-site-verification=x")
    passing = [spf_result(SpfVerdict.PASS, "192.0.2.7"), spf_result(SpfVerdict.PASS, "2001:db8::7")]
    row = spf_row(D, "v=spf1 mx ip4:192.0.2.7 ~all", one, passing)
    assert row.status is Status.PASS and row.found == "v=spf1 ip4:192.0.2.7 -all"
    failing = [spf_result(SpfVerdict.PASS, "192.0.2.7"), spf_result(SpfVerdict.SOFTFAIL, "2001:db8::7")]
    row = spf_row(D, "v=spf1 mx ~all", one, failing)
    assert row.status is Status.WRONG and "2001:db8::7 gets softfail" in row.advice
    assert "192.0.2.7" not in row.advice
    broken = [spf_result(SpfVerdict.PERMERROR, "192.0.2.7", "unknown mechanism 'foo'")]
    assert "permerror (unknown mechanism 'foo')" in spf_row(D, "", one, broken).advice


def test_spf_several_records_missing_or_no_address() -> None:
    two = txt(D, "v=spf1 mx ~all", "v=spf1 ip4:192.0.2.7 ~all")
    row = spf_row(D, "v=spf1 mx ~all", two, [])
    assert row.status is Status.WRONG and "2 v=spf1 records" in row.advice
    assert spf_row(D, "v=spf1 mx ~all", txt(D, "other"), []).status is Status.MISSING
    row = spf_row(D, "v=spf1 mx ~all", txt(D, "v=spf1 mx ~all"), [], "no address")
    assert (row.status, row.advice) == (Status.WRONG, "no address")


# --------------------------------------------------------------------------- DKIM

KEY_NAME = f"po2026m01r._domainkey.{D}"


def test_dkim_compares_keys_not_text() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    ours = public_key_record(key)
    pkcs1 = base64.b64encode(key.public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.PKCS1)).decode()
    spaced = " ".join(pkcs1[i : i + 60] for i in range(0, len(pkcs1), 60))
    rewritten = txt(KEY_NAME, f"v=DKIM1; h=sha256; p={spaced}; k=rsa")
    assert dkim_row(KEY_NAME, ours, rewritten).status is Status.PASS
    row = dkim_row(KEY_NAME, ED25519, txt(KEY_NAME, OTHER_ED25519))
    assert row.status is Status.WRONG and "another key" in row.advice


def test_dkim_missing_revoked_unusable_and_several() -> None:
    assert dkim_row(KEY_NAME, ED25519, txt(KEY_NAME)).status is Status.MISSING
    retired = dkim_row(KEY_NAME, ED25519, txt(KEY_NAME), active=False)
    assert retired.status is Status.PASS and "older key" in retired.advice
    revoked = dkim_row(KEY_NAME, ED25519, txt(KEY_NAME, "v=DKIM1; k=ed25519; p="))
    assert revoked.status is Status.WRONG and "revoked" in revoked.advice
    garbage = dkim_row(KEY_NAME, ED25519, txt(KEY_NAME, "v=DKIM1; k=ed25519; p=!!!"))
    assert garbage.status is Status.WRONG and "not a usable key record" in garbage.advice
    several = dkim_row(KEY_NAME, ED25519, txt(KEY_NAME, ED25519, OTHER_ED25519))
    assert several.status is Status.WRONG and "2 TXT records" in several.advice


# --------------------------------------------------------------------------- DMARC

DMARC = f"v=DMARC1; p=none; rua=mailto:postmaster@{D}; adkim=r; aspf=r"


@pytest.mark.parametrize(("published", "status", "advice"), [
    ("v=DMARC1; p=reject", Status.PASS, ""),
    ("v=DMARC1; p=none; rua=mailto:d@example.net", Status.PASS, "only monitors"),
    ("v=DMARC1; p=quarantine; pct=500", Status.PASS, "pct=500"),
    ("v=DMARC1; p=bogus", Status.WRONG, "invalid (p=bogus is not a policy)"),
    ("v=dmarc1; p=reject", Status.WRONG, "does not start with v=DMARC1"),
    (None, Status.MISSING, "publish"),
])
def test_dmarc_any_valid_policy_passes(published: str | None, status: Status, advice: str) -> None:
    found = txt(f"_dmarc.{D}", published) if published else txt(f"_dmarc.{D}")
    row = dmarc_row(D, DMARC, found)
    assert row.status is status and advice in row.advice
    assert row.name == f"_dmarc.{D}" and row.type == "TXT"


def test_dmarc_two_records_are_wrong() -> None:
    row = dmarc_row(D, DMARC, txt(f"_dmarc.{D}", "v=DMARC1; p=none", "v=DMARC1; p=reject"))
    assert row.status is Status.WRONG and "2 DMARC records" in row.advice


# --------------------------------------------------------------------------- MTA-STS and TLS-RPT

def test_mta_sts_record_needs_the_current_id() -> None:
    name = f"_mta-sts.{D}"
    assert sts_txt_row(D, "abc123", txt(name, "v=STSv1; id=abc123;")).status is Status.PASS
    old = sts_txt_row(D, "abc123", txt(name, "v=STSv1; id=old1"))
    assert old.status is Status.WRONG and old.advice.startswith("publish id=abc123")
    assert sts_txt_row(D, "abc123", txt(name)).status is Status.MISSING
    two = sts_txt_row(D, "abc123", txt(name, "v=STSv1; id=abc123", "v=STSv1; id=x"))
    assert two.status is Status.WRONG and "exactly one" in two.advice
    assert sts_txt_row(D, "abc123", servfail(name)).status is Status.WRONG


def host(data: dict[str, list[dict[str, Any]]]) -> tuple[DnsAnswer, DnsAnswer]:
    zone = Zone.from_data(data)
    return (zone.answer(DnsQuery(f"mta-sts.{D}", RRType.A)),
            zone.answer(DnsQuery(f"mta-sts.{D}", RRType.AAAA)))


def test_mta_sts_host() -> None:
    ours = host({f"mta-sts.{D}": [{"CNAME": "mail.example.test"}],
                 "mail.example.test": [{"A": "192.0.2.1"}]})
    row = sts_host_row(D, "mail.example.test", ours)
    assert (row.status, row.found, row.advice) == (Status.PASS, "mail.example.test. (192.0.2.1)", "")
    elsewhere = sts_host_row(D, "mail.example.test", host({f"mta-sts.{D}": [{"AAAA": "2001:db8::1"}]}))
    assert elsewhere.status is Status.PASS and "HTTPS row" in elsewhere.advice
    assert sts_host_row(D, "mail.example.test", host({})).status is Status.MISSING


def test_tls_rpt_needs_one_record_with_a_rua() -> None:
    name, ours = f"_smtp._tls.{D}", f"v=TLSRPTv1; rua=mailto:postmaster@{D}"
    assert tlsrpt_row(D, ours, txt(name, ours)).status is Status.PASS
    other = tlsrpt_row(D, ours, txt(name, "v=TLSRPTv1;rua=https://reports.example.net/tls"))
    assert other.status is Status.PASS and "reports.example.net" in other.advice
    assert tlsrpt_row(D, ours, txt(name, "v=TLSRPTv1;")).status is Status.WRONG
    assert tlsrpt_row(D, ours, txt(name, "v=TLSRPTv1; rua=postmaster")).status is Status.WRONG
    assert tlsrpt_row(D, ours, txt(name)).status is Status.MISSING


def test_policy_file_compared_by_content() -> None:
    url = f"https://mta-sts.{D}/.well-known/mta-sts.txt"
    ours = "version: STSv1\r\nmode: enforce\r\nmx: a.example.test\r\nmx: b.example.test\r\nmax_age: 600\r\n"
    same = parse_policy("version: STSv1\nmode: enforce\nmx: b.example.test\nmx: a.example.test\n"
                        "max_age: 600\n")
    assert policy_row(url, ours, same).status is Status.PASS
    other = parse_policy("version: STSv1\nmode: testing\nmx: a.example.test\nmax_age: 600\n")
    row = policy_row(url, ours, other)
    assert row.status is Status.WRONG
    assert "mode testing, not enforce" in row.advice and "mx a.example.test, not" in row.advice
    failed = policy_row(url, ours, None, "HTTP status 404")
    assert failed.status is Status.WRONG and failed.found == "fetch failed: HTTP status 404"


def test_json_shape() -> None:
    row = Row("TXT", f"_dmarc.{D}", Status.MISSING, DMARC, "", "publish the expected record")
    assert row.to_json() == {"type": "TXT", "name": f"_dmarc.{D}", "status": "missing",
                             "expected": DMARC, "found": "", "advice": "publish the expected record"}


# --------------------------------------------------------------------------- the whole flow

def expected(**publish: Any) -> Expected:
    dkim = (Record("TXT", f"po2026m01e._domainkey.{D}", ED25519),
            Record("TXT", f"po2025m01e._domainkey.{D}", OTHER_ED25519))
    return Expected(D, Publish(mx=("mail.example.test",), **publish), dkim,
                    frozenset({dkim[0].name}))


def zone_for(exp: Expected, **changes: list[dict[str, object]] | None) -> dict[str, Any]:
    """The zone publishing `exp`'s records, with mail.example.test at 192.0.2.1 and names
    replaced (None: removed)."""
    data: dict[str, Any] = published_zone(asdict(r) for r in exp.records())
    data["mail.example.test"] = [{"A": "192.0.2.1"}]
    for name, entries in changes.items():
        if entries is None:
            del data[name]
        else:
            data[name] = entries
    return data


def rows_by_name(exp: Expected, zone: dict[str, Any]) -> dict[str, Row]:
    return {row.name: row for row in run_sync(dns_rows(exp), zone)}


def test_every_dns_record_as_published_passes() -> None:
    exp = expected()
    rows = run_sync(dns_rows(exp), zone_for(exp))
    assert [r.type for r in rows] == ["MX", "TXT", "TXT", "TXT", "TXT", "TXT", "CNAME", "TXT"]
    assert all_pass(rows), [r for r in rows if r.status is not Status.PASS]
    assert rows[1].expected == "v=spf1 mx ~all"
    assert rows[5].expected == f"v=STSv1; id={mta_sts_id(mta_sts_policy(exp.publish))}"


def test_spf_is_evaluated_for_the_pool_addresses_else_the_mx_addresses() -> None:
    pooled = expected(sending_addresses=("192.0.2.7",))
    rows = rows_by_name(pooled, zone_for(expected()))  # SPF as published without the pool
    assert rows[D].status is Status.WRONG and "192.0.2.7 gets softfail" in rows[D].advice
    plain = expected()
    dual_stack = {"mail.example.test": [{"A": "192.0.2.1"}, {"AAAA": "2001:db8::1"}],
                  D: [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}]}
    rows = rows_by_name(plain, zone_for(plain, **dual_stack))
    assert rows[D].status is Status.WRONG and "2001:db8::1 gets fail" in rows[D].advice
    assert "192.0.2.1" not in rows[D].advice
    nowhere = rows_by_name(plain, zone_for(plain, **{"mail.example.test": None}))
    assert nowhere[D].status is Status.WRONG and "has no A/AAAA record" in nowhere[D].advice
    assert nowhere[f"mta-sts.{D}"].status is Status.MISSING  # its CNAME target has no address


def test_a_retired_key_may_be_gone_but_the_active_one_may_not() -> None:
    exp = expected()
    active, retired = (r.name for r in exp.dkim)
    rows = rows_by_name(exp, zone_for(exp, **{retired: None}))
    assert rows[retired].status is Status.PASS and all_pass(list(rows.values()))
    rows = rows_by_name(exp, zone_for(exp, **{active: None}))
    assert rows[active].status is Status.MISSING and not all_pass(list(rows.values()))


def test_bimi_row() -> None:
    from postoffice.auth.dns import RRType, lookup, run_sync
    from postoffice.mta.record_checks import Status, bimi_row

    expected = "v=BIMI1; l=https://www.example.test/logo.svg;"
    name = "default._bimi.example.test"

    def row(records: list[dict[str, object]]) -> Status:
        zone = {name: records} if records else {"example.test": [{"A": "192.0.2.1"}]}
        return bimi_row("example.test", expected, run_sync(lookup(name, RRType.TXT), zone)).status

    assert row([{"TXT": expected}]) is Status.PASS
    assert row([]) is Status.MISSING
    assert row([{"TXT": "v=BIMI1; l=https://other.example/logo.svg;"}]) is Status.WRONG
    assert row([{"TXT": expected}, {"TXT": expected.replace("www", "cdn")}]) is Status.WRONG
