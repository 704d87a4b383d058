"""Routes to destination domains: MX order, fallback, implicit and null MX, error classes.

The first part runs the route flow on in-memory zones; the second against a real authoritative
server (Knot DNS on loopback) through the shared dnspython resolver.
"""

import asyncio
import os
import random
import socket
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from postoffice.auth.dns import DnsError, RRType, ZoneData, run_sync
from postoffice.mta.dns import Resolver, ResolverConfig
from postoffice.mta.routes import (
    AddressFamilies,
    Route,
    RouteError,
    RouteOptions,
    Router,
    route_flow,
)
from postoffice.policy.providers import PROVIDERS, mx_site, provider_for_host, registrable_domain
from postoffice.testing.dns import AuthoritativeDns, zone_text


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def hops(route: Route) -> list[tuple[str, str, int]]:
    return [(h.mx, str(h.address), h.preference) for h in route.hops]


# --------------------------------------------------------------------------- in-memory zones

ZONE: ZoneData = {
    "example.org": [{"MX": [20, "mx2.example.org"]}, {"MX": [10, "mx1.example.org"]}],
    "mx1.example.org": [{"A": "192.0.2.1"}, {"AAAA": "2001:db8::1"}],
    "mx2.example.org": [{"A": "192.0.2.2"}],
    "equal.example": [{"MX": [10, f"mx{i}.equal.example"]} for i in range(4)],
    **{f"mx{i}.equal.example": [{"A": f"192.0.2.{10 + i}"}] for i in range(4)},
    "implicit.example": [{"A": "192.0.2.30"}, {"AAAA": "2001:db8::30"}, {"TXT": "no MX here"}],
    "nothing.example": [{"TXT": "no MX, no address"}],
    "nullmx.example": [{"MX": [0, "."]}],
    "ipmx.example": [{"MX": [10, "192.0.2.40"]}, {"MX": [20, "mx.ipmx.example"]}],
    "mx.ipmx.example": [{"A": "192.0.2.41"}],
    "onlyip.example": [{"MX": [10, "192.0.2.40"]}],
    "skip.example": [{"MX": [5, "gone.skip.example"]}, {"MX": [10, "v6only.skip.example"]},
                     {"MX": [20, "mx.skip.example"]}],
    "v6only.skip.example": [{"AAAA": "2001:db8::50"}],
    "mx.skip.example": [{"A": "192.0.2.51"}, {"A": "0.0.0.0"}],
    "dup.example": [{"MX": [30, "mx.dup.example"]}, {"MX": [10, "mx.dup.example"]},
                    {"MX": [20, "other.dup.example"]}],
    "mx.dup.example": [{"A": "192.0.2.60"}],
    "other.dup.example": [{"A": "192.0.2.60"}, {"A": "192.0.2.61"}],
    "alias.example": [{"MX": [10, "cname.alias.example"]}],
    "cname.alias.example": [{"CNAME": "real.alias.example"}],
    "real.alias.example": [{"A": "192.0.2.70"}],
    "servfail.example": ["SERVFAIL"],
    "timeout.example": ["TIMEOUT"],
    "halfbroken.example": [{"MX": [10, "mx.broken.example"]}, {"MX": [20, "mx.halfbroken.example"]}],
    "mx.halfbroken.example": [{"A": "192.0.2.80"}],
    "mx.broken.example": ["SERVFAIL"],
    "allbroken.example": [{"MX": [10, "mx.broken.example"]}, {"MX": [20, "slow.broken.example"]}],
    "slow.broken.example": ["TIMEOUT"],
    "mixed.example": [{"MX": [10, "gone.mixed.example"]}, {"MX": [20, "mx.broken.example"]}],
    "google.example": [{"MX": [5, "gmail-smtp-in.l.google.com"]}, {"MX": [10, "alt1.gmail-smtp-in.l.google.com"]}],
    "gmail-smtp-in.l.google.com": [{"A": "192.0.2.90"}],
    "alt1.gmail-smtp-in.l.google.com": [{"A": "192.0.2.91"}],
}


def route(domain: str, options: RouteOptions | None = None, seed: int = 0) -> Route:
    return run_sync(route_flow(domain, options, random.Random(seed)), ZONE)


def route_error(domain: str, options: RouteOptions | None = None) -> RouteError:
    with pytest.raises(RouteError) as info:
        route(domain, options)
    return info.value


def test_mx_preference_order_and_fallback() -> None:
    r = route("Example.ORG.")
    assert r.domain == "example.org" and not r.implicit
    assert hops(r) == [
        ("mx1.example.org", "192.0.2.1", 10),
        ("mx1.example.org", "2001:db8::1", 10),
        ("mx2.example.org", "192.0.2.2", 20),
    ]
    assert r.hosts == ("mx1.example.org", "mx2.example.org")
    assert r.site == "example.org"


def test_equal_preferences_are_shuffled_by_the_injected_rng() -> None:
    orders = {tuple(route("equal.example", seed=seed).hosts) for seed in range(40)}
    assert len(orders) > 1
    assert all(sorted(order) == [f"mx{i}.equal.example" for i in range(4)] for order in orders)
    assert route("equal.example", seed=7).hosts == route("equal.example", seed=7).hosts
    # the site does not depend on the shuffle
    assert {route("equal.example", seed=s).site for s in range(10)} == {"equal.example"}


def test_address_family_options() -> None:
    v6_first = RouteOptions(prefer=AddressFamilies.IPV6)
    assert [h.address for h in route("example.org", v6_first).hops][:2] == [
        IPv6Address("2001:db8::1"),
        IPv4Address("192.0.2.1"),
    ]
    v4 = route("example.org", RouteOptions(families=AddressFamilies.IPV4))
    assert all(h.address.version == 4 for h in v4.hops) and len(v4.hops) == 2
    v6 = route("example.org", RouteOptions(families=AddressFamilies.IPV6))
    assert hops(v6) == [("mx1.example.org", "2001:db8::1", 10)]
    assert any("mx2.example.org: no usable address" in n for n in v6.notes)
    mixed = {tuple(str(h.address) for h in route("example.org", RouteOptions(prefer=AddressFamilies.BOTH), seed=s).hops[:2]) for s in range(20)}
    assert len(mixed) == 2


def test_implicit_mx_uses_the_domains_own_addresses() -> None:
    r = route("implicit.example")
    assert r.implicit
    assert hops(r) == [
        ("implicit.example", "192.0.2.30", 0),
        ("implicit.example", "2001:db8::30", 0),
    ]
    err = route_error("nothing.example")
    assert err.permanent and err.status == "5.1.2"


def test_null_mx_is_a_permanent_failure() -> None:
    err = route_error("nullmx.example")
    assert err.permanent and err.status == "5.1.10"
    assert "does not accept mail" in str(err)


def test_nxdomain_is_permanent() -> None:
    err = route_error("no-such-domain.example")
    assert err.permanent and err.status == "5.1.2" and err.domain == "no-such-domain.example"


@pytest.mark.parametrize("domain", ["servfail.example", "timeout.example"])
def test_mx_lookup_failure_is_temporary(domain: str) -> None:
    err = route_error(domain)
    assert not err.permanent and err.status == "4.4.3"


def test_mx_pointing_at_an_ip_address_is_skipped() -> None:
    r = route("ipmx.example")
    assert hops(r) == [("mx.ipmx.example", "192.0.2.41", 20)]
    assert any("is an IP address" in n for n in r.notes)
    err = route_error("onlyip.example")
    assert err.permanent and err.status == "5.4.4"


def test_hosts_without_addresses_are_skipped_and_unspecified_addresses_dropped() -> None:
    r = route("skip.example", RouteOptions(families=AddressFamilies.IPV4))
    assert hops(r) == [("mx.skip.example", "192.0.2.51", 20)]
    assert any(n.startswith("gone.skip.example: no usable address (A nxdomain)") for n in r.notes)
    assert any(n.startswith("v6only.skip.example: no usable address (A nodata)") for n in r.notes)


def test_duplicate_hosts_and_addresses_are_tried_once() -> None:
    r = route("dup.example")
    assert hops(r) == [
        ("mx.dup.example", "192.0.2.60", 10),
        ("other.dup.example", "192.0.2.61", 20),
    ]


def test_mx_host_that_is_a_cname_is_followed_with_a_note() -> None:
    r = route("alias.example")
    assert hops(r) == [("cname.alias.example", "192.0.2.70", 10)]
    assert any("alias for real.alias.example" in n for n in r.notes)


def test_temporary_failure_of_one_host_falls_back_to_the_others() -> None:
    r = route("halfbroken.example")
    assert hops(r) == [("mx.halfbroken.example", "192.0.2.80", 20)]
    assert any("temporary DNS failures" in n for n in r.notes)


@pytest.mark.parametrize("domain", ["allbroken.example", "mixed.example"])
def test_temporary_failure_leaving_no_host_is_temporary_never_permanent(domain: str) -> None:
    err = route_error(domain)
    assert not err.permanent and err.status == "4.4.3"


def test_address_literals_need_no_dns() -> None:
    r = run_sync(route_flow("[192.0.2.9]"), {})
    assert hops(r) == [("[192.0.2.9]", "192.0.2.9", 0)]
    r6 = run_sync(route_flow("[IPv6:2001:db8::9]"), {})
    assert r6.hops[0].address == ip_address("2001:db8::9")
    with pytest.raises(RouteError, match="5.1.2"):
        run_sync(route_flow("[192.0.2.999]"), {})
    with pytest.raises(RouteError, match="5.4.4"):
        run_sync(route_flow("[IPv6:2001:db8::9]", RouteOptions(families=AddressFamilies.IPV4)), {})
    with pytest.raises(RouteError, match="empty domain"):
        run_sync(route_flow(""), {})


def test_route_ttl_is_the_smallest_answer_ttl() -> None:
    zone: ZoneData = {
        "ttl.example": [{"MX": [10, "mx.ttl.example"], "TTL": 3600}],
        "mx.ttl.example": [{"A": "192.0.2.5", "TTL": 120}, {"AAAA": "2001:db8::5", "TTL": 30}],
    }
    assert run_sync(route_flow("ttl.example"), zone).ttl == 30


def test_site_of_a_provider_hosted_domain() -> None:
    assert route("google.example").site == "google"


# --------------------------------------------------------------------------- mx_site table


@pytest.mark.parametrize(
    ("hosts", "site"),
    [
        (["aspmx.l.google.com", "alt1.aspmx.l.google.com", "aspmx2.googlemail.com"], "google"),
        (["smtp.google.com"], "google"),
        (["example-com.mail.protection.outlook.com"], "microsoft"),
        (["hotmail-com.olc.protection.outlook.com."], "microsoft"),
        (["mta5.am0.yahoodns.net", "mta6.am0.yahoodns.net"], "yahoo"),
        (["mx01.mail.icloud.com", "mx02.mail.icloud.com"], "apple"),
        (["mx00.gmx.net", "mx01.gmx.net"], "gmx"),
        (["mx-ha03.web.de"], "gmx"),
        (["mx.yandex.net"], "yandex"),
        (["mx.yandex.ru"], "yandex"),
        (["mxs.mail.ru"], "mailru"),
        (["MX1.Mail.Example.CO.UK."], "example.co.uk"),
        (["mx1.mail.example.com", "aspmx.l.google.com"], "example.com"),  # the first host decides
        (["mail.example.org"], "example.org"),
        ([], ""),
    ],
)
def test_mx_site(hosts: list[str], site: str) -> None:
    assert mx_site(hosts) == site


def test_mx_site_falls_back_to_the_domain_and_suffixes_match_whole_labels() -> None:
    assert mx_site([], "sub.shop.example.net") == "example.net"
    assert provider_for_host("notgoogle.com") is None
    assert provider_for_host("google.com.evil.example") is None
    assert registrable_domain("example") == "example"
    assert registrable_domain("a.b.example.com.au") == "example.com.au"
    assert len({p.site for p in PROVIDERS}) == len(PROVIDERS)


# --------------------------------------------------------------------------- real DNS server

LIVE_ZONES: dict[str, ZoneData | None] = {
    "route.test": {
        "@": [{"MX": [10, "mx1.route.test"]}, {"MX": [20, "mx2.route.test"]}, {"MX": [30, "mx3.other.test"]}],
        "mx1": [{"A": "127.0.0.11"}, {"AAAA": "::1"}],
        "mx2": [{"A": "127.0.0.12"}, {"A": "127.0.0.13"}],
        "equal": [{"MX": [10, f"e{i}.route.test"]} for i in range(3)],
        **{f"e{i}": [{"A": f"127.0.1.{i}"}] for i in range(3)},
        "implicit": [{"A": "127.0.0.20"}, {"AAAA": "::20"}],
        "null": [{"MX": [0, "."]}],
        "viacname": [{"MX": [10, "alias.route.test"]}],
        "alias": [{"CNAME": "mx1.other.test"}],
        "deadmx": [{"MX": [10, "mx.broken.test"]}, {"MX": [20, "mx.sub.route.test"]}],
        "fallback": [{"MX": [10, "mx.broken.test"]}, {"MX": [20, "mx2.route.test"]}],
        "big": [{"TXT": ["x" * 250] * 8}],  # > 1232 bytes: truncated over UDP, fetched over TCP
    },
    "other.test": {"mx1": [{"A": "127.0.0.31"}], "mx3": [{"A": "127.0.0.33"}]},
    "google.com": {"aspmx.l.google.com": [{"A": "127.0.0.40"}]},
    "hosted.test": {"@": [{"MX": [1, "aspmx.l.google.com"]}]},
    "broken.test": None,
}
# A delegation to a server nobody reaches (glue on loopback): the non-recursive server answers
# with a referral, which must not be taken for "no such records".
DELEGATION = "sub IN NS ns.sub\nns.sub IN A 127.0.0.1\n"


@pytest.fixture(scope="module")
def knot() -> Iterator[AuthoritativeDns]:
    zones: dict[str, ZoneData | str | None] = dict(LIVE_ZONES)
    zones["route.test"] = zone_text("route.test", LIVE_ZONES["route.test"] or {}) + DELEGATION
    with AuthoritativeDns(zones) as server:
        yield server


def live(
    server: AuthoritativeDns,
    domain: str,
    *,
    seed: int = 0,
    clock: FakeClock | None = None,
    resolver: Resolver | None = None,
) -> Route:
    resolver = resolver or Resolver(
        ResolverConfig(nameservers=(server.nameserver,), timeout=1.0, lifetime=2.0),
        clock=clock or FakeClock(),
    )
    return asyncio.run(Router(resolver, rng=random.Random(seed)).resolve_destination(domain))


def live_error(server: AuthoritativeDns, domain: str) -> RouteError:
    with pytest.raises(RouteError) as info:
        live(server, domain)
    return info.value


@pytest.mark.peer
def test_live_preference_order_and_fallback_across_zones(knot: AuthoritativeDns) -> None:
    r = live(knot, "route.test")
    assert [(h.mx, h.preference) for h in r.hops] == [
        ("mx1.route.test", 10),
        ("mx1.route.test", 10),
        ("mx2.route.test", 20),
        ("mx2.route.test", 20),
        ("mx3.other.test", 30),
    ]
    assert [str(h.address) for h in r.hops[:2]] == ["127.0.0.11", "::1"]  # IPv4 first, then IPv6
    assert {str(h.address) for h in r.hops[2:4]} == {"127.0.0.12", "127.0.0.13"}
    assert str(r.hops[4].address) == "127.0.0.33"
    assert r.site == "route.test" and not r.implicit


@pytest.mark.peer
def test_live_equal_preference_shuffle(knot: AuthoritativeDns) -> None:
    orders = {live(knot, "equal.route.test", seed=s).hosts for s in range(12)}
    assert len(orders) > 1
    assert all(sorted(o) == ["e0.route.test", "e1.route.test", "e2.route.test"] for o in orders)


@pytest.mark.peer
def test_live_implicit_null_and_nxdomain(knot: AuthoritativeDns) -> None:
    r = live(knot, "implicit.route.test")
    assert r.implicit and [str(h.address) for h in r.hops] == ["127.0.0.20", "::20"]
    null = live_error(knot, "null.route.test")
    assert null.permanent and null.status == "5.1.10"
    nx = live_error(knot, "nope.route.test")
    assert nx.permanent and nx.status == "5.1.2"


@pytest.mark.peer
def test_live_mx_host_cname_into_another_zone(knot: AuthoritativeDns) -> None:
    r = live(knot, "viacname.route.test")
    assert [(h.mx, str(h.address)) for h in r.hops] == [("alias.route.test", "127.0.0.31")]
    assert any("alias for mx1.other.test" in n for n in r.notes)


@pytest.mark.peer
def test_live_servfail_zone_is_temporary(knot: AuthoritativeDns) -> None:
    err = live_error(knot, "broken.test")
    assert not err.permanent and err.status == "4.4.3" and "servfail" in err.text


@pytest.mark.peer
def test_live_dead_delegation_is_temporary_never_permanent(knot: AuthoritativeDns) -> None:
    err = live_error(knot, "sub.route.test")  # the MX query gets a referral
    assert not err.permanent and err.status == "4.4.3"
    # MX hosts only in a SERVFAIL zone and under the dead delegation: temporary too
    err = live_error(knot, "deadmx.route.test")
    assert not err.permanent and err.status == "4.4.3"


@pytest.mark.peer
def test_live_fallback_past_a_failing_host(knot: AuthoritativeDns) -> None:
    r = live(knot, "fallback.route.test")
    assert r.hosts == ("mx2.route.test",)
    assert any("mx.broken.test" in n for n in r.notes)


@pytest.mark.peer
def test_live_provider_site(knot: AuthoritativeDns) -> None:
    r = live(knot, "hosted.test")
    assert r.site == "google" and str(r.hops[0].address) == "127.0.0.40"


@pytest.mark.peer
def test_live_large_txt_over_tcp(knot: AuthoritativeDns) -> None:
    resolver = Resolver(ResolverConfig(nameservers=(knot.nameserver,)), clock=FakeClock())
    answer = asyncio.run(resolver.resolve("big.route.test", RRType.TXT))
    assert answer.ok and answer.texts == ("x" * 2000,)


@pytest.mark.peer
def test_live_unreachable_nameserver_times_out_and_is_temporary() -> None:
    # a UDP socket that never answers, and no TCP listener
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        resolver = Resolver(
            ResolverConfig(nameservers=(f"127.0.0.1:{port}",), timeout=0.2, lifetime=0.5),
            clock=FakeClock(),
        )
        answer = asyncio.run(resolver.resolve("route.test", RRType.MX))
        assert answer.error is DnsError.TIMEOUT and answer.ttl == 5
        with pytest.raises(RouteError) as info:
            asyncio.run(Router(resolver).resolve_destination("route.test"))
    assert not info.value.permanent and info.value.status == "4.4.3"


@pytest.mark.peer
def test_live_ttl_expiry_and_negative_caching_with_a_fake_clock() -> None:
    zone: ZoneData = {
        "@": [{"MX": [10, "mx1.ttl.test"], "TTL": 120}],
        "mx1": [{"A": "127.0.0.51", "TTL": 120}, {"AAAA": "::51", "TTL": 120}],
    }
    with AuthoritativeDns({"ttl.test": zone}, negative_ttl=30) as server:
        clock = FakeClock()
        resolver = Resolver(ResolverConfig(nameservers=(server.nameserver,)), clock=clock)

        def destination(domain: str) -> Route:
            return live(server, domain, resolver=resolver)

        first = destination("ttl.test")
        assert [str(h.address) for h in first.hops] == ["127.0.0.51", "::51"] and first.ttl == 120
        with pytest.raises(RouteError, match="5.1.2"):
            destination("new.ttl.test")

        server.set_zone("ttl.test", {
            "@": [{"MX": [10, "mx2.ttl.test"], "TTL": 120}],
            "mx2": [{"A": "127.0.0.52"}],
            "new": [{"A": "127.0.0.53"}],
        })
        clock.advance(29)  # both cached: the old route, and NXDOMAIN (negative TTL 30, RFC 2308)
        assert destination("ttl.test").hosts == ("mx1.ttl.test",)
        assert destination("ttl.test").ttl == 91
        with pytest.raises(RouteError, match="5.1.2"):
            destination("new.ttl.test")
        clock.advance(1)  # the negative answer expired, the MX has not
        assert destination("new.ttl.test").implicit
        assert destination("ttl.test").hosts == ("mx1.ttl.test",)
        clock.advance(90)  # now the MX has too
        r = destination("ttl.test")
        assert r.hosts == ("mx2.ttl.test",) and [str(h.address) for h in r.hops] == ["127.0.0.52"]


@pytest.mark.peer
def test_server_harness_reload_break_and_stop() -> None:
    server = AuthoritativeDns({"h.test": {"@": [{"MX": [10, "mx.h.test"]}], "mx": [{"A": "127.0.0.61"}]}})
    with server:
        pid = server.pid
        assert pid is not None
        assert live(server, "h.test").hosts == ("mx.h.test",)
        server.set_zone("h.test", None)
        assert live_error(server, "h.test").status == "4.4.3"
        server.set_zone("h.test", {"@": [{"MX": [0, "."]}]})
        assert live_error(server, "h.test").status == "5.1.10"
        server.set_zone("added.test", "@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\n@ A 127.0.0.62\n")
        assert live(server, "added.test").implicit
        root = server.root
        assert root is not None and (root / "knot.conf").exists()
    assert server.process is None and not root.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
