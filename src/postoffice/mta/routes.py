"""Where mail for a domain goes: MX lookup, preference order, addresses to try (RFC 5321 5.1).

Theory of operation
-------------------
:func:`route_flow` is a DNS flow (see :mod:`postoffice.auth.dns`): it asks for the domain's MX
records, then for the A and AAAA records of every MX host at once, and returns a :class:`Route`:
the (MX host, address, preference) :class:`Hop` list in the order delivery should try them.
:class:`Router` runs it on the shared resolver; tests run it on a dict zone with ``run_sync``.

Rules, in the order they apply:

* An address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``) is its own route; no DNS.
* MX lookup: NXDOMAIN → permanent ``5.1.2`` (no such domain); SERVFAIL or timeout → temporary
  ``4.4.3``. NODATA → *implicit MX*: the domain itself, preference 0 (RFC 5321 5.1).
* Null MX (RFC 7505): when every MX record's exchange is ``"."`` → permanent ``5.1.10``
  ("domain does not accept mail"). A ``"."`` among other MX records is skipped.
* An MX whose exchange is an IP address (RFC 1035 and RFC 5321 5.1 require a host name) is
  skipped, as Exim and Postfix do; an MX host that is a CNAME (RFC 2181 10.3 forbids it) is
  followed anyway, with a note. A host listed twice keeps its lowest preference.
* Hosts are sorted by preference; hosts of equal preference are shuffled (injected ``rng``), so
  load spreads as the domain's owner meant.
* Each host's addresses (A, AAAA, or both per :class:`RouteOptions`) follow it, the preferred
  family first, each family shuffled. Unspecified addresses (``0.0.0.0``, ``::``) are dropped,
  and an address reached through an earlier host is not tried twice.
* A host without addresses is skipped (with a note saying why). When no host is left: if any
  lookup on the way failed temporarily (SERVFAIL, timeout) the route fails *temporarily*
  (``4.4.3``), since a working server may well have given addresses; otherwise permanently:
  ``5.1.2`` for a domain without MX and without addresses, ``5.4.4`` when no MX host resolves.

DNS trouble is never a bounce: only NXDOMAIN, NODATA and null MX, which are definitive answers
from the domain's own servers, give permanent failures.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.dns import (
    DnsAnswer,
    DnsError,
    DnsQuery,
    Flow,
    IPAddress,
    MxRecord,
    RRType,
    lookup,
    lookup_all,
    normalize_name,
)
from postoffice.errors import PostofficeError
from postoffice.mta.dns import DnsLookup, run_async
from postoffice.policy.providers import mx_site

__all__ = [
    "AddressFamilies",
    "Hop",
    "Route",
    "RouteError",
    "RouteOptions",
    "Router",
    "route_flow",
]


class AddressFamilies(StrEnum):
    """Which addresses of an MX host to use."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    BOTH = "both"


@dataclass(frozen=True)
class RouteOptions:
    """How routes are built."""

    families: AddressFamilies = AddressFamilies.BOTH
    """Address families to deliver over (and to look up)."""
    prefer: AddressFamilies = AddressFamilies.IPV4
    """With both families, which comes first for each host (``BOTH``: IPv4 and IPv6 mixed in
    random order). IPv4 by default: big receivers judge IPv6 senders more strictly."""


@dataclass(frozen=True)
class Hop:
    """One place to try: an address of an MX host."""

    mx: str
    """The MX host name (the domain itself for an implicit MX; the literal for an address
    literal)."""
    address: IPAddress
    """The address to connect to."""
    preference: int
    """The MX preference (0 for an implicit MX or an address literal)."""


@dataclass(frozen=True)
class Route:
    """Where mail for a domain goes, in try order."""

    domain: str
    """The destination domain (normal form)."""
    hops: tuple[Hop, ...]
    """Addresses to try, in order: never empty."""
    site: str
    """The MX site (``policy.providers.mx_site``): "google", "microsoft", ... or a registrable
    domain; throttles count per site."""
    ttl: int
    """Seconds the route stays valid: the smallest TTL of the answers it was built from."""
    implicit: bool = False
    """True when the domain has no MX and its own addresses are used (RFC 5321 5.1)."""
    notes: tuple[str, ...] = ()
    """What was skipped and why (hosts without addresses, CNAMEs, temporary failures)."""

    @property
    def hosts(self) -> tuple[str, ...]:
        """The MX hosts, in try order, each once."""
        return tuple(dict.fromkeys(h.mx for h in self.hops))


class RouteError(PostofficeError):
    """No route for a domain: permanent (bounce) or temporary (retry later)."""

    def __init__(self, domain: str, status: str, text: str) -> None:
        super().__init__(f"{status} {domain}: {text}")
        self.domain = domain
        """The destination domain."""
        self.status = status
        """RFC 3463 enhanced status code: ``5.1.2``, ``5.1.10``, ``5.4.4`` or ``4.4.3``."""
        self.text = text
        """Human-readable reason, for the DSN and the log."""

    @property
    def permanent(self) -> bool:
        """True when the message should bounce; False when delivery should be retried."""
        return self.status.startswith("5.")


def _address_literal(domain: str) -> IPAddress | None:
    """The address of ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]`` (RFC 5321 4.1.3); None if malformed."""
    if not domain.endswith("]"):
        return None
    inner = domain[1:-1]
    try:
        if inner.lower().startswith("ipv6:"):
            return ipaddress.IPv6Address(inner[5:])
        return ipaddress.IPv4Address(inner)
    except ValueError:
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _families(options: RouteOptions) -> tuple[RRType, ...]:
    if options.families is AddressFamilies.IPV4:
        return (RRType.A,)
    if options.families is AddressFamilies.IPV6:
        return (RRType.AAAA,)
    if options.prefer is AddressFamilies.IPV6:
        return (RRType.AAAA, RRType.A)
    return (RRType.A, RRType.AAAA)


def _family_allowed(address: IPAddress, options: RouteOptions) -> bool:
    if options.families is AddressFamilies.IPV4:
        return address.version == 4
    if options.families is AddressFamilies.IPV6:
        return address.version == 6
    return True


def _order_hosts(records: list[MxRecord], rng: random.Random) -> list[MxRecord]:
    """Sort by preference; shuffle hosts of equal preference."""
    by_pref: dict[int, list[MxRecord]] = {}
    for record in records:
        by_pref.setdefault(record.preference, []).append(record)
    ordered: list[MxRecord] = []
    for pref in sorted(by_pref):
        group = sorted(by_pref[pref], key=lambda r: r.exchange)  # rng alone decides the order
        rng.shuffle(group)
        ordered.extend(group)
    return ordered


def route_flow(
    domain: str, options: RouteOptions | None = None, rng: random.Random | None = None
) -> Flow[Route]:
    """The route to ``domain`` (raises :class:`RouteError`); a DNS flow, see the module doc."""
    options = options or RouteOptions()
    rng = rng or random.Random()
    domain = normalize_name(domain)
    if domain == ".":
        raise RouteError(domain, "5.1.2", "empty domain")

    if domain.startswith("["):
        literal = _address_literal(domain)
        if literal is None:
            raise RouteError(domain, "5.1.2", "malformed address literal")
        if not _family_allowed(literal, options):
            raise RouteError(domain, "5.4.4", f"IPv{literal.version} delivery is disabled")
        return Route(domain, (Hop(domain, literal, 0),), str(literal), 0)

    notes: list[str] = []
    temporary: list[str] = []
    mx = yield from lookup(domain, RRType.MX)
    ttls = [mx.ttl]
    implicit = False
    if mx.error is DnsError.NXDOMAIN:
        raise RouteError(domain, "5.1.2", "no such domain (NXDOMAIN)")
    if mx.temporary:
        detail = f": {mx.detail}" if mx.detail else ""
        raise RouteError(domain, "4.4.3", f"MX lookup failed ({mx.error}), will retry{detail}")
    if mx.error is DnsError.NODATA:
        implicit = True
        hosts = [MxRecord(0, mx.name)]
    else:
        records = list(mx.mx)
        if all(r.is_null for r in records):
            raise RouteError(domain, "5.1.10", "domain does not accept mail (null MX, RFC 7505)")
        best: dict[str, MxRecord] = {}
        for record in records:
            if record.is_null:
                notes.append(f"null MX among other MX records of {domain} ignored")
            elif _is_ip(record.exchange):
                notes.append(f"MX {record.exchange} is an IP address, not a host name: skipped")
            elif (
                record.exchange not in best or record.preference < best[record.exchange].preference
            ):
                best[record.exchange] = record
        hosts = _order_hosts(list(best.values()), rng)
        if not hosts:
            raise RouteError(domain, "5.4.4", "no usable MX host: " + "; ".join(notes))

    rdtypes = _families(options)
    queries = [DnsQuery(h.exchange, t) for h in hosts for t in rdtypes]
    answers = yield from lookup_all(queries)
    by_query: dict[DnsQuery, DnsAnswer] = {a.query: a for a in answers}

    hops: list[Hop] = []
    seen: set[IPAddress] = set()
    for host in hosts:
        host_hops: list[Hop] = []
        failures: list[str] = []
        for rdtype in rdtypes:
            answer = by_query[DnsQuery(host.exchange, rdtype)]
            ttls.append(answer.ttl)
            if answer.error is not None:
                failures.append(f"{rdtype} {answer.error}")
                if answer.temporary:
                    temporary.append(f"{host.exchange} {rdtype}: {answer.error}")
                continue
            if answer.canonical_name and not implicit:
                notes.append(
                    f"MX host {host.exchange} is an alias for {answer.canonical_name} (RFC 2181 10.3)"
                )
            addresses = [a for a in answer.addresses if not a.is_unspecified and a not in seen]
            rng.shuffle(addresses)
            seen.update(addresses)
            host_hops.extend(Hop(host.exchange, a, host.preference) for a in addresses)
        if options.families is AddressFamilies.BOTH and options.prefer is AddressFamilies.BOTH:
            rng.shuffle(host_hops)
        if host_hops:
            hops.extend(host_hops)
        else:
            notes.append(
                f"{host.exchange}: no usable address ({', '.join(failures) or 'unspecified'}): skipped"
            )

    if hops:
        if temporary:
            notes.append("temporary DNS failures: " + "; ".join(temporary))
        # the site is named by the most preferred hosts, in a stable order (not the shuffled one)
        first = sorted(h.exchange for h in hosts if h.preference == hosts[0].preference)
        site = mx_site([domain] if implicit else first, domain)
        return Route(domain, tuple(hops), site, min(ttls), implicit, tuple(dict.fromkeys(notes)))
    if temporary:
        raise RouteError(
            domain, "4.4.3", "address lookup failed, will retry: " + "; ".join(temporary)
        )
    if implicit:
        raise RouteError(domain, "5.1.2", "domain has no MX and no address records")
    raise RouteError(domain, "5.4.4", "no MX host has an address: " + "; ".join(notes))


class Router:
    """Finds routes on the shared resolver: ``await router.resolve_destination("example.org")``."""

    def __init__(
        self,
        resolver: DnsLookup,
        options: RouteOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.resolver = resolver
        self.options = options or RouteOptions()
        self.rng = rng or random.Random()

    async def resolve_destination(self, domain: str) -> Route:
        """The :class:`Route` to ``domain``; raises :class:`RouteError` (see :attr:`RouteError.permanent`)."""
        return await run_async(route_flow(domain, self.options, self.rng), self.resolver)
