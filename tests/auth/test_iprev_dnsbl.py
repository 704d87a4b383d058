"""FCrDNS (iprev) and DNS blocklist flows against zone data."""

import ipaddress

import pytest

from postoffice.auth.dns import run_sync
from postoffice.auth.dnsbl import check, query_name
from postoffice.auth.iprev import iprev, reverse_name

IP = ipaddress.ip_address("192.0.2.10")
IP6 = ipaddress.ip_address("2001:db8::1")

ZONE = {
    "10.2.0.192.in-addr.arpa": [{"PTR": "mail.example.org"}, {"PTR": "other.example.org"}],
    "mail.example.org": [{"A": "192.0.2.10"}],
    "other.example.org": [{"A": "192.0.2.99"}],
    reverse_name(IP6): [{"PTR": "v6.example.org"}],
    "v6.example.org": [{"AAAA": "2001:db8::1"}],
    "11.2.0.192.in-addr.arpa": [{"PTR": "liar.example.org"}],
    "liar.example.org": [{"A": "198.51.100.1"}],
    "12.2.0.192.in-addr.arpa": [{"PTR": "slow.example.org"}],
    "slow.example.org": ["TIMEOUT"],
    "13.2.0.192.in-addr.arpa": ["SERVFAIL"],
}


@pytest.mark.parametrize("ip, result, name", [
    ("192.0.2.10", "pass", "mail.example.org"),
    ("::ffff:192.0.2.10", "pass", "mail.example.org"),  # IPv4-mapped: the IPv4 address
    ("2001:db8::1", "pass", "v6.example.org"),
    ("192.0.2.11", "fail", None),        # the PTR name leads elsewhere
    ("192.0.2.14", "fail", None),        # no PTR record
    ("192.0.2.12", "temperror", None),   # the forward lookup timed out
    ("192.0.2.13", "temperror", None),   # the PTR lookup failed
])
def test_iprev(ip: str, result: str, name: str | None) -> None:
    outcome = run_sync(iprev(ipaddress.ip_address(ip)), ZONE)
    assert (outcome.result, outcome.name) == (result, name), outcome.reason


def test_query_names() -> None:
    assert query_name(IP, "zen.example.") == "10.2.0.192.zen.example"
    assert query_name(IP6, "bl.example") == ".".join(reversed("20010db8" + "0" * 23 + "1")) + ".bl.example"
    assert query_name(ipaddress.ip_address("::ffff:192.0.2.10"), "bl.example") == "10.2.0.192.bl.example"


def test_blocklist_results() -> None:
    zone = {
        "10.2.0.192.listed.example": [{"A": "127.0.0.2"}, {"A": "127.0.0.4"}, {"TXT": "spam source"}],
        "listed.example": [{"A": "127.0.0.1"}],
        "10.2.0.192.refusing.example": [{"A": "127.255.255.254"}],
        "refusing.example": [{"A": "127.0.0.1"}],
        "clean.example": [{"A": "127.0.0.1"}],
        "10.2.0.192.broken.example": ["TIMEOUT"],
        "10.2.0.192.odd.example": [{"A": "192.0.2.1"}],
    }
    zones = ["listed.example", "refusing.example", "clean.example", "broken.example", "odd.example"]
    results = {r.zone: r for r in run_sync(check(IP, zones, reasons=True), zone)}
    assert results["listed.example"].listed and results["listed.example"].codes == ("127.0.0.2", "127.0.0.4")
    assert results["listed.example"].reason == "spam source"
    assert not results["refusing.example"].listed and "refused" in str(results["refusing.example"].error)
    assert not results["clean.example"].listed and results["clean.example"].error is None
    assert not results["broken.example"].listed and "lookup failed" in str(results["broken.example"].error)
    assert not results["odd.example"].listed and results["odd.example"].error
