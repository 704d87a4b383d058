"""DNS blocklists (RFC 5782): is the client's IP listed on a DNSBL zone?

The query for 192.0.2.1 on zone `zen.example` is an A lookup of `1.2.0.192.zen.example`
(IPv6: the 32 nibbles, reversed). A listing is an A record in 127.0.0.0/8; the return codes
say which list (`127.0.0.2`, ...). Codes in 127.255.255.0/24 are not listings: lists answer so
when they refuse the query (Spamhaus: 127.255.255.252 typo, .254 query through a public
resolver, .255 too many queries); such an answer is an error to report, never a listing. NXDOMAIN
means not listed; a temporary failure is an error (the caller decides: skip the list or try
again later). The TXT record at the same name, when asked for, says why.

`check(ip, zones)` asks every zone at once and returns one result per zone."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.auth.dns import DnsQuery, Flow, IPAddress, RRType, lookup_all

_REFUSALS = ipaddress.ip_network("127.255.255.0/24")
_LISTED = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True)
class DnsblResult:
    zone: str
    listed: bool
    codes: tuple[str, ...] = ()
    """The 127.x return codes of a listing."""
    error: str | None = None
    """Why the zone gave no verdict (temporary DNS failure, refusal code)."""
    reason: str = ""
    """The zone's TXT explanation, when asked for and given."""


def query_name(ip: IPAddress, zone: str) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        labels = reversed(str(ip).split("."))
    else:
        labels = reversed(ip.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone.strip(".").lower()


def check(ip: IPAddress, zones: Sequence[str], *, reasons: bool = False) -> Flow[tuple[DnsblResult, ...]]:
    names = [query_name(ip, zone) for zone in zones]
    queries = [DnsQuery(name, RRType.A) for name in names]
    if reasons:
        queries += [DnsQuery(name, RRType.TXT) for name in names]
    answers = yield from lookup_all(queries)
    results = []
    for i, zone in enumerate(zones):
        answer = answers[i]
        text = " ".join(answers[len(zones) + i].texts) if reasons and answers[len(zones) + i].ok else ""
        if answer.error is not None:
            if answer.error.temporary:
                results.append(DnsblResult(zone, False, error=f"lookup failed: {answer.error}"))
            else:
                results.append(DnsblResult(zone, False))
            continue
        addresses = [a for a in answer.addresses if isinstance(a, ipaddress.IPv4Address)]
        refused = [str(a) for a in addresses if a in _REFUSALS]
        codes = tuple(str(a) for a in addresses if a in _LISTED and a not in _REFUSALS)
        if refused and not codes:
            results.append(DnsblResult(zone, False, error=f"query refused ({', '.join(refused)})"))
        elif codes:
            results.append(DnsblResult(zone, True, codes, reason=text))
        else:
            results.append(DnsblResult(zone, False, error="answer outside 127.0.0.0/8"))
    return tuple(results)
