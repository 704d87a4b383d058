"""The client's reverse DNS, forward-confirmed (FCrDNS; `iprev` in RFC 8601 3): the names the
client IP's PTR records give, each checked for an A/AAAA record leading back to the IP.

Results as Authentication-Results spells them: `pass` (some name leads back), `fail` (PTR
names exist but none leads back, or there is no PTR record), `temperror` (a lookup failed
temporarily: try again, never a verdict), `permerror` (the PTR answer is unusable). At most
MAX_NAMES names are checked (RFC 8601 3: a limit keeps the lookups bounded)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from postoffice.auth.dns import DnsQuery, Flow, IPAddress, RRType, lookup, lookup_all

MAX_NAMES = 10


@dataclass(frozen=True)
class IprevResult:
    result: str
    """pass, fail, temperror or permerror."""
    name: str | None = None
    """The forward-confirmed name (pass), else None."""
    names: tuple[str, ...] = ()
    """Every PTR name seen."""
    reason: str = ""


def reverse_name(ip: IPAddress) -> str:
    """The in-addr.arpa / ip6.arpa name of `ip` (IPv4-mapped IPv6 as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.reverse_pointer


def iprev(ip: IPAddress) -> Flow[IprevResult]:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    answer = yield from lookup(reverse_name(ip), RRType.PTR)
    if answer.error is not None:
        if answer.error.temporary:
            return IprevResult("temperror", reason=f"PTR lookup: {answer.error}")
        return IprevResult("fail", reason=f"no PTR record ({answer.error})")
    names = tuple(dict.fromkeys(answer.targets))[:MAX_NAMES]
    if not names:
        return IprevResult("permerror", reason="PTR answer without names")
    family = RRType.A if ip.version == 4 else RRType.AAAA
    answers = yield from lookup_all(DnsQuery(name, family) for name in names)
    temporary = False
    for name, forward in zip(names, answers, strict=True):
        if forward.error is not None:
            temporary |= forward.error.temporary
            continue
        if ip in forward.addresses:
            return IprevResult("pass", name, names)
    if temporary:
        return IprevResult("temperror", names=names, reason="a forward lookup failed temporarily")
    return IprevResult("fail", names=names,
                       reason=f"no PTR name leads back to {ip}: {', '.join(names)}")

