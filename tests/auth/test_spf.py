"""SPF (auth/spf): record parsing, macros, limits, explanations, HELO, IPv6, trace, header."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from postoffice.auth.dns import DnsQuery, RRType, ZoneData, run_sync
from postoffice.auth.spf import (
    MacroContext,
    MechanismKind,
    SpfResult,
    SpfSyntaxError,
    SpfVerdict,
    check_helo,
    check_host,
    check_mail_from,
    default_explanation,
    expand,
    parse_macro_string,
    parse_record,
    received_spf_header,
)
from postoffice.auth.spf.macros import EXPLANATION_LETTERS

PASS, FAIL, SOFTFAIL, NEUTRAL = SpfVerdict.PASS, SpfVerdict.FAIL, SpfVerdict.SOFTFAIL, SpfVerdict.NEUTRAL
NONE, TEMPERROR, PERMERROR = SpfVerdict.NONE, SpfVerdict.TEMPERROR, SpfVerdict.PERMERROR


def check(zone: ZoneData, ip: str, mail_from: str = "alice@example.org",
          helo: str | None = "mail.example.org", receiver: str = "unknown", now: float = 0) -> SpfResult:
    return run_sync(check_mail_from(ip, mail_from, helo, receiver=receiver, now=now), zone)


# --------------------------------------------------------------------------- records

def test_record_terms_are_parsed() -> None:
    record = parse_record("v=spf1 a mx:mx.example.org/24//64 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 "
                          "?include:_spf.example.net ptr exists:%{i}.bl.example +all "
                          "redirect=_spf.example.org exp=why.%{d} x-note=%{s}")
    kinds = [(m.qualifier, m.kind) for m in record.mechanisms]
    assert kinds == [("+", MechanismKind.A), ("+", MechanismKind.MX), ("-", MechanismKind.IP4),
                     ("~", MechanismKind.IP6), ("?", MechanismKind.INCLUDE),
                     ("+", MechanismKind.PTR), ("+", MechanismKind.EXISTS), ("+", MechanismKind.ALL)]
    mx = record.mechanisms[1]
    assert (mx.cidr4, mx.cidr6, mx.domain_spec and mx.domain_spec.text) == (24, 64, "mx.example.org")
    assert int(IPv4Address("192.0.2.0")) == record.mechanisms[2].network
    assert record.redirect is not None and record.redirect.text == "_spf.example.org"
    assert record.exp is not None and record.exp.letters == {"d"}
    assert [name for name, _ in record.unknown_modifiers] == ["x-note"]


def test_names_are_case_insensitive_and_spaces_repeat() -> None:
    record = parse_record("V=SPF1  IP4:192.0.2.1   Include:Example.NET  REDIRECT=example.com ")
    assert [m.kind for m in record.mechanisms] == [MechanismKind.IP4, MechanismKind.INCLUDE]
    assert record.redirect is not None


@pytest.mark.parametrize("text", [
    "v=spf1 -all.", "v=spf1 all:x", "v=spf1 a:example", "v=spf1 a:example.123", "v=spf1 a:.-com",
    "v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/024", "v=spf1 a/24/64", "v=spf1 mx:",
    "v=spf1 include", "v=spf1 include:example.org/24", "v=spf1 exists", "v=spf1 ptr/24",
    "v=spf1 ip4:192.0.2", "v=spf1 ip4:192.0.2.01", "v=spf1 ip4:192.0.2.1:25",
    "v=spf1 ip4:192.0.2.1//32", "v=spf1 ip6:2001:db8::/129", "v=spf1 ip6:fe80::1%eth0",
    "v=spf1 ip6:2001:db8::1//64", "v=spf1 ip4", "v=spf1 foo", "v=spf1 redirect:example.org",
    "v=spf1 1up=x", "v=spf1 =all", "v=spf1 exp=", "v=spf1 redirect=a.example redirect=b.example",
    "v=spf1 exp=a.example exp=b.example", "v=spf1 x=%z", "v=spf1 a:%{c}.example.org",
    "v=spf1 ip4:192.0.2.1\ttcp", "v=spf1 a:bad\x00.example.org", "v=spf1 a:h\xe9.example.org",
])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_record(text)


def test_syntax_error_anywhere_is_permerror_before_any_match() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 +all bad:term"}]}
    result = check(zone, "192.0.2.1")
    assert result.result is PERMERROR and "bad:term" in (result.problem or "")


@pytest.mark.parametrize(("records", "verdict"), [
    ([], NONE),
    (["not spf", "v=spf10 +all"], NONE),
    (["v=spf1 -all", "V=SPF1 +all"], PERMERROR),
    (["v=spf1", "other"], NEUTRAL),
    ([["v=spf1 ip4:192.0.2.1", " -all"]], PASS),
    ([["v=spf1", "+all"]], NONE),  # strings join without a space: "v=spf1+all"
])
def test_record_selection(records: list[object], verdict: SpfVerdict) -> None:
    zone: ZoneData = {"example.org": [{"TXT": r} for r in records] or [{"A": "192.0.2.9"}]}
    assert check(zone, "192.0.2.1").result is verdict


# --------------------------------------------------------------------------- macros

RFC_CTX = MacroContext("strong-bad@email.example.com", "email.example.com",
                       IPv4Address("192.0.2.3"), "mx.example.org", "mx.receiver.example", 1e9)


@pytest.mark.parametrize(("spec", "expanded"), [  # RFC 7208 section 7.4
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%{h}.%{d1R}", "mx.example.org.email"),
    ("x%%y%_z%-w", "x%y z%20w"),
    ("%{l2r+-}", "bad.strong"),
])
def test_rfc_macro_examples(spec: str, expanded: str) -> None:
    assert expand(parse_macro_string(spec), RFC_CTX) == expanded


def test_ipv6_and_explanation_macros() -> None:
    ctx = MacroContext("a@example.org", "example.org", IPv6Address("2001:db8::cb01"), "h.example",
                       "mx.receiver.example", 1_700_000_000.9)
    # RFC 7208 7.4 prints the nibbles in lower case; the RFC 7208 suite expects upper case
    # (v-macro-ip6). DNS names are case-insensitive, so only explanations can tell.
    assert expand(parse_macro_string("%{ir}.%{v}._spf.%{d2}"), ctx) == (
        "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.org")
    text = parse_macro_string("%{c} via %{r} at %{t}", EXPLANATION_LETTERS, spaces=True)
    assert expand(text, ctx) == "2001:db8::cb01 via mx.receiver.example at 1700000000"


def test_upper_case_macros_are_url_escaped() -> None:
    ctx = MacroContext("~jack&jill=up-a_b3.c@example.org", "example.org", IPv4Address("192.0.2.1"),
                       "h", "r", 0)
    assert expand(parse_macro_string("%{L}.x.example"), ctx) == "~jack%26jill%3Dup-a_b3.c.x.example"
    assert expand(parse_macro_string("%{S}.x.example"), ctx).endswith("%40example.org.x.example")


@pytest.mark.parametrize("spec", ["%", "%a", "%{d", "%{d0}", "%{x}", "%{c}", "%{r}", "%{t}",
                                  "%{d2!}", "a b"])
def test_macro_syntax_errors(spec: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_macro_string(spec)


def test_explanation_letters_only_in_explanations() -> None:
    parse_macro_string("%{c} %{r} %{t}", EXPLANATION_LETTERS, spaces=True)
    with pytest.raises(SpfSyntaxError):
        parse_macro_string("%{c}")


def test_expanded_names_are_truncated_from_the_left() -> None:
    label = "a" * 60
    long_local = ".".join([label] * 4)  # 243 characters; + ".example.org": 255
    truncated = f"{label}.{label}.{label}.example.org"  # one label less: 194
    zone = {"example.org": [{"TXT": "v=spf1 exists:%{l}.example.org -all"}],
            truncated: [{"A": "127.0.0.2"}]}
    result = check(zone, "192.0.2.1", f"{long_local}@example.org")
    assert result.result is PASS
    assert result.trace[1].query == DnsQuery(truncated, RRType.A)


def test_invalid_target_names_match_nothing() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 a:%{l}.example.org ?all"}]}
    result = check(zone, "192.0.2.1", "a..b@example.org")
    assert result.result is NEUTRAL
    assert any(e.query is None and "not a valid name" in e.outcome for e in result.trace)


def test_p_macro_prefers_names_under_the_domain() -> None:
    zone = {
        "example.org": [{"TXT": "v=spf1 exists:%{p}.allow.example.org -all"}],
        "7.2.0.192.in-addr.arpa": [{"PTR": "other.example.net"}, {"PTR": "mx.example.org"},
                                   {"PTR": "fake.example.org"}],
        "other.example.net": [{"A": "192.0.2.7"}],
        "mx.example.org": [{"A": "192.0.2.7"}],
        "fake.example.org": [{"A": "192.0.2.99"}],  # does not validate
        "mx.example.org.allow.example.org": [{"A": "127.0.0.2"}],
    }
    result = check(zone, "192.0.2.7")
    assert result.result is PASS and result.lookups == 1  # %{p} is not counted


# --------------------------------------------------------------------------- limits

def _chain(count: int) -> ZoneData:
    """example.org with `count` DNS-querying a: terms before ip4:192.0.2.1."""
    terms = " ".join(f"a:h{i}.example.org" for i in range(count))
    zone: dict[str, list[dict[str, object]]] = {
        "example.org": [{"TXT": f"v=spf1 {terms} ip4:192.0.2.1 -all"}]}
    zone.update({f"h{i}.example.org": [{"A": "198.51.100.1"}] for i in range(count)})
    return zone


def test_ten_dns_terms_are_allowed_eleven_are_a_permerror() -> None:
    at_limit = check(_chain(10), "192.0.2.1")
    assert at_limit.result is PASS and at_limit.lookups == 10
    over = check(_chain(11), "192.0.2.1")
    assert over.result is PERMERROR and "more than 10" in (over.problem or "")


def test_terms_count_across_includes_and_redirects() -> None:
    zone = {
        "example.org": [{"TXT": "v=spf1 include:a.example.org redirect=b.example.org"}],
        "a.example.org": [{"TXT": "v=spf1 " + "a " * 5 + "-all"}, {"A": "198.51.100.1"}],
        "b.example.org": [{"TXT": "v=spf1 a a a ip4:192.0.2.1"}, {"A": "198.51.100.1"}],
    }
    # include (1) + 5 a + redirect (7) + 3 a = 10
    assert check(zone, "192.0.2.1").result is PASS
    zone["b.example.org"] = [{"TXT": "v=spf1 a a a a ip4:192.0.2.1"}, {"A": "198.51.100.1"}]
    assert check(zone, "192.0.2.1").result is PERMERROR


def test_void_lookups() -> None:
    two = {"example.org": [{"TXT": "v=spf1 a:nx1.example.org mx:nx2.example.org ?all"}]}
    result = check(two, "192.0.2.1")
    assert result.result is NEUTRAL and result.void_lookups == 2
    three = {"example.org": [{"TXT": "v=spf1 a:nx1.example.org mx:nx2.example.org "
                                     "exists:nx3.example.org ?all"}]}
    result = check(three, "192.0.2.1")
    assert result.result is PERMERROR and "void" in (result.problem or "")
    assert "void lookup 3 of 2" in result.trace[-1].outcome


def test_nodata_is_void_too_but_mx_host_lookups_are_not() -> None:
    zone: ZoneData = {
        "example.org": [{"TXT": "v=spf1 mx a ?all"}, {"MX": [10, "mx1.example.org"]},
                        {"MX": [20, "mx2.example.org"]}, {"MX": [30, "mx3.example.org"]},
                        {"A": "198.51.100.1"}],
        **{f"mx{i}.example.org": [{"A": f"198.51.100.{i}"}] for i in (1, 2, 3)},
    }
    result = check(zone, "2001:db8::1")  # no AAAA anywhere: 3 MX hosts + the domain come back empty
    assert result.result is NEUTRAL and result.void_lookups == 1  # only a's own AAAA lookup


def test_mx_record_limit() -> None:
    def zone(n: int) -> ZoneData:
        return {"example.org": [{"TXT": "v=spf1 mx -all"}]
                + [{"MX": [i, f"mx{i}.example.org"]} for i in range(n)],
                **{f"mx{i}.example.org": [{"A": f"198.51.100.{i}"}] for i in range(n)}}
    assert check(zone(10), "198.51.100.9").result is PASS
    assert check(zone(11), "198.51.100.9").result is PERMERROR


def test_only_the_first_ten_ptr_names_are_used() -> None:
    names = [f"h{i}.example.org" for i in range(11)]
    zone: dict[str, list[dict[str, object]]] = {
        "example.org": [{"TXT": "v=spf1 ptr:h10.example.org -all"}],
        "1.2.0.192.in-addr.arpa": [{"PTR": n} for n in names],
        **{n: [{"A": "192.0.2.1"}] for n in names},
    }
    assert check(zone, "192.0.2.1").result is FAIL
    zone["example.org"] = [{"TXT": "v=spf1 ptr:h9.example.org -all"}]
    assert check(zone, "192.0.2.1").result is PASS


# --------------------------------------------------------------------------- DNS errors

def test_temporary_failures() -> None:
    zone: ZoneData = {
        "example.org": [{"TXT": "v=spf1 include:slow.example.net -all"}],
        "slow.example.net": ["TIMEOUT"],
    }
    assert check(zone, "192.0.2.1").result is TEMPERROR
    assert check({"example.org": ["SERVFAIL"]}, "192.0.2.1").result is TEMPERROR


def test_an_mx_host_failure_is_a_temperror_unless_another_host_matches() -> None:
    zone: ZoneData = {
        "example.org": [{"TXT": "v=spf1 mx -all"}, {"MX": [10, "broken.example.org"]},
                        {"MX": [20, "mx.example.org"]}],
        "broken.example.org": ["SERVFAIL"],
        "mx.example.org": [{"A": "192.0.2.1"}],
    }
    assert check(zone, "192.0.2.1").result is PASS
    assert check(zone, "192.0.2.2").result is TEMPERROR


def test_ptr_lookup_errors_do_not_match() -> None:
    zone: ZoneData = {"example.org": [{"TXT": "v=spf1 ptr ?all"}],
                                     "1.2.0.192.in-addr.arpa": ["TIMEOUT"]}
    assert check(zone, "192.0.2.1").result is NEUTRAL


# --------------------------------------------------------------------------- exp=

EXP_ZONE: ZoneData = {
    "example.org": [{"TXT": "v=spf1 include:inc.example.org -all exp=why.example.org"}],
    "inc.example.org": [{"TXT": "v=spf1 -all exp=inner.example.org"}],
    "why.example.org": [{"TXT": "%{c} may not send for %{d} (seen by %{r} at %{t})"}],
    "inner.example.org": [{"TXT": "never shown"}],
}


def test_explanation_is_expanded_from_the_deciding_record() -> None:
    result = check(EXP_ZONE, "192.0.2.1", receiver="mx.example.net", now=1_700_000_000)
    assert result.result is FAIL
    assert result.explanation == "192.0.2.1 may not send for example.org (seen by mx.example.net at 1700000000)"
    assert result.trace[-1].term == "exp=why.example.org"


def test_exp_is_not_counted_and_problems_fall_back_to_the_default() -> None:
    default = default_explanation("example.org", IPv4Address("192.0.2.1"))
    terms = " ".join(f"a:h{i}.example.org" for i in range(10))
    zone: ZoneData = {"example.org": [{"TXT": f"v=spf1 {terms} -all exp=nx.example.org"}],
                      **{f"h{i}.example.org": [{"A": "198.51.100.1"}] for i in range(10)}}
    result = check(zone, "192.0.2.1")
    assert result.result is FAIL and result.lookups == 10 and result.void_lookups == 0
    assert result.explanation == default and result.trace[-1].query == DnsQuery("nx.example.org", RRType.TXT)
    two: ZoneData = {"example.org": [{"TXT": "v=spf1 -all exp=e.example.org"}],
                     "e.example.org": [{"TXT": "one"}, {"TXT": "two"}]}
    assert check(two, "192.0.2.1").explanation == default


def test_explanation_only_for_fail() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 ~all exp=why.example.org"}],
            "why.example.org": [{"TXT": "no"}]}
    result = check(zone, "192.0.2.1")
    assert result.result is SOFTFAIL and result.explanation is None
    assert all(e.query is None or e.query.rdtype is not RRType.TXT or e.term == "record"
               for e in result.trace)


# --------------------------------------------------------------------------- identities

HELO_ZONE: ZoneData = {
    "mail.example.org": [{"TXT": "v=spf1 a -all exp=why.example.org"}, {"A": "192.0.2.1"}],
    "why.example.org": [{"TXT": "%{s} / %{l} / %{o} / %{h}"}],
}


def test_null_reverse_path_checks_the_helo_identity() -> None:
    result = check(HELO_ZONE, "192.0.2.1", "")
    assert (result.result, result.identity, result.sender) == (PASS, "helo", "postmaster@mail.example.org")
    failed = run_sync(check_helo("192.0.2.2", "mail.example.org"), HELO_ZONE)
    assert failed.result is FAIL
    assert failed.explanation == ("postmaster@mail.example.org / postmaster / mail.example.org / "
                                  "mail.example.org")


def test_missing_local_part_is_postmaster() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 -all exp=why.example.org"}],
            "why.example.org": [{"TXT": "%{l}"}]}
    result = check(zone, "192.0.2.1", "@example.org")
    assert result.explanation == "postmaster" and result.sender == "postmaster@example.org"


@pytest.mark.parametrize("domain", ["[192.0.2.1]", "localhost", "192.0.2.1", "a..example.org",
                                    "x" * 64 + ".example.org", ".example.org", "a b.example.org"])
def test_domains_that_cannot_be_checked_give_none(domain: str) -> None:
    result = run_sync(check_host("192.0.2.1", domain, f"a@{domain}"), {})
    assert result.result is NONE and result.problem and not result.trace


def test_nxdomain_gives_none_and_a_trailing_dot_is_ignored() -> None:
    assert check({}, "192.0.2.1").result is NONE
    zone = {"example.org": [{"TXT": "v=spf1 +all"}]}
    assert run_sync(check_host("192.0.2.1", "example.org.", "a@example.org."), zone).result is PASS


def test_non_ascii_domains_are_checked_in_a_label_form() -> None:
    zone = {"xn--bcher-kva.example": [{"TXT": "v=spf1 ip4:192.0.2.1 -all"}]}
    result = check(zone, "192.0.2.1", "anna@bücher.example")
    assert result.result is PASS and result.domain == "xn--bcher-kva.example"
    assert result.sender == "anna@xn--bcher-kva.example"


# --------------------------------------------------------------------------- IPv6

V6_ZONE: ZoneData = {
    "example.org": [{"TXT": "v=spf1 -ip4:192.0.2.1 a//64 mx/24//48 ip6:2001:db8:ff::/48 -all"},
                    {"A": "198.51.100.1"}, {"AAAA": "2001:db8:1:2::1"}, {"MX": [10, "mx.example.org"]}],
    "mx.example.org": [{"A": "198.51.100.200"}, {"AAAA": "2001:db8:77::1"}],
}


@pytest.mark.parametrize(("ip", "verdict", "mechanism"), [
    ("2001:db8:1:2::99", PASS, "a//64"),
    ("2001:db8:1:3::1", FAIL, "-all"),
    ("2001:db8:77:ffff::1", PASS, "mx/24//48"),
    ("2001:db8:ff::1", PASS, "ip6:2001:db8:ff::/48"),
    ("198.51.100.77", PASS, "mx/24//48"),
    ("::ffff:192.0.2.1", FAIL, "-ip4:192.0.2.1"),  # IPv4-mapped: an IPv4 client
    ("::ffff:198.51.100.1", PASS, "a//64"),
])
def test_ipv6_clients(ip: str, verdict: SpfVerdict, mechanism: str) -> None:
    result = check(V6_ZONE, ip)
    assert (result.result, result.mechanism) == (verdict, mechanism)


def test_ipv4_mapped_clients_are_evaluated_as_ipv4() -> None:
    result = check(V6_ZONE, "::ffff:198.51.100.1")
    assert result.ip == IPv4Address("198.51.100.1")
    assert DnsQuery("example.org", RRType.A) in [e.query for e in result.trace]


# --------------------------------------------------------------------------- trace

def test_trace_shows_every_lookup_and_why() -> None:
    zone = {
        "example.org": [{"TXT": "v=spf1 include:_spf.example.net mx:nx.example.org"}],
        "_spf.example.net": [{"TXT": "v=spf1 ip4:198.51.100.0/24 -all"}],
    }
    result = check(zone, "192.0.2.1")
    assert result.result is NEUTRAL and result.mechanism is None
    steps = [(e.depth, e.domain, e.term, str(e.query) if e.query else None) for e in result.trace]
    assert steps == [
        (0, "example.org", "record", "example.org TXT"),
        (1, "_spf.example.net", "record", "_spf.example.net TXT"),
        (1, "_spf.example.net", "-all", None),
        (0, "example.org", "include:_spf.example.net", None),
        (0, "example.org", "mx:nx.example.org", "nx.example.org MX"),
        (0, "example.org", "default", None),
    ]
    assert result.trace[2].outcome == "matches: fail"
    assert result.trace[3].outcome == "_spf.example.net gives fail: no match"
    assert result.trace[4].outcome == "nxdomain, void lookup 1 of 2"
    assert str(result.trace[1]) == "  _spf.example.net: record: _spf.example.net TXT -> 'v=spf1 ip4:198.51.100.0/24 -all'"
    assert (result.lookups, result.void_lookups) == (2, 1)


def test_redirect_reports_the_deciding_record() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 redirect=_spf.example.org"}],
            "_spf.example.org": [{"TXT": "v=spf1 ip4:192.0.2.0/24 -all"}]}
    result = check(zone, "192.0.2.1")
    assert (result.result, result.mechanism, result.record_domain) == (
        PASS, "ip4:192.0.2.0/24", "_spf.example.org")
    assert result.domain == "example.org"


# --------------------------------------------------------------------------- Received-SPF

def test_received_spf_header() -> None:
    zone = {"example.org": [{"TXT": "v=spf1 ip4:192.0.2.0/24 -all"}]}
    header = received_spf_header(check(zone, "192.0.2.1", receiver="mx.example.net"))
    assert header.endswith(b"\r\n") and all(len(line) <= 78 for line in header.split(b"\r\n"))
    unfolded = header.decode().replace("\r\n\t", " ").rstrip()
    assert unfolded == (
        "Received-SPF: pass (mx.example.net: domain of alice@example.org designates 192.0.2.1 "
        'as permitted sender) client-ip=192.0.2.1; envelope-from="alice@example.org"; '
        'helo=mail.example.org; receiver=mx.example.net; mechanism="ip4:192.0.2.0/24"; '
        "identity=mailfrom;")


def test_received_spf_header_for_errors_and_hostile_input() -> None:
    result = check({"example.org": [{"TXT": "v=spf1 bogus"}]}, "2001:db8::1",
                   'a"b\r\nX-Evil: 1@example.org', helo="evil\r\n(x)")
    header = received_spf_header(result).decode()
    assert header.count("\r\n") == header.count("\r\n\t") + 1  # only folds and the end
    assert header.startswith("Received-SPF: permerror (unknown: permanent error")
    assert 'client-ip="2001:db8::1"' in header and 'problem="example.org: unknown' in header
    assert 'envelope-from="a\\"b??X-Evil: 1@example.org"' in header
    assert 'helo="evil??(x)"' in header and "mechanism=" not in header


def test_received_spf_header_for_helo_and_default() -> None:
    zone = {"mail.example.org": [{"TXT": "v=spf1 ?ip4:198.51.100.1"}]}
    header = received_spf_header(run_sync(check_helo("192.0.2.1", "mail.example.org"), zone))
    unfolded = header.decode().replace("\r\n\t", " ")
    assert "envelope-from" not in unfolded
    assert "mechanism=default; identity=helo;" in unfolded
