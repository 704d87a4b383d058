"""The shared DNS resolver: one dnspython async resolver behind a cache that honours TTLs.

Theory of operation
-------------------
A process has one :class:`Resolver`. Everything that looks names up (routes to MX hosts; SPF,
DKIM, DMARC evaluators through :func:`run_async`) asks it a :class:`~postoffice.auth.dns.DnsQuery`
and gets a :class:`~postoffice.auth.dns.DnsAnswer`; DNS failures are answers, never exceptions.

``Resolver.query``:

1. looks in the :class:`DnsCache` (bounded LRU keyed by query; entries expire by the injected
   clock). A hit is handed out with the TTL that is left;
2. otherwise joins a lookup of the same query already in flight (many deliveries to one domain
   make one lookup), or starts one on the :class:`Backend`;
3. caches what came back, for:

   * records: their TTL (the smallest along a CNAME chain), capped at ``max_ttl``;
   * NXDOMAIN and NODATA: the negative TTL of RFC 2308 section 5 (the smaller of the SOA record's
     TTL and its MINIMUM field), capped at ``max_negative_ttl``; without an SOA, not cached;
   * SERVFAIL and TIMEOUT: ``error_ttl`` seconds (a few), so that a failing server is not
     hammered, yet a retry soon asks again. These are temporary: callers retry, never bounce.

:class:`DnspythonBackend` is the production backend: a single ``dns.asyncresolver.Resolver``
(its own cache off) pointed at ``ResolverConfig.nameservers`` (``"127.0.0.1:5353"``,
``"[::1]:53"``, ``"192.0.2.53"``) or at the system's (``/etc/resolv.conf``). It follows CNAME
chains, also across zones when an authoritative server answers with the CNAME alone.
:class:`ZoneBackend` answers from in-memory zone data (tests, ``--dns-zone``).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.resolver

from postoffice.auth.dns import (
    MAX_CNAME_CHAIN,
    DnsAnswer,
    DnsError,
    DnsQuery,
    DnsRecord,
    Flow,
    MxRecord,
    PtrRecord,
    RRType,
    TxtRecord,
    Zone,
    ZoneData,
)
from postoffice.clock import SYSTEM_CLOCK, Clock
from postoffice.errors import ConfigError

__all__ = [
    "Backend",
    "DnsCache",
    "DnsLookup",
    "DnspythonBackend",
    "Resolver",
    "ResolverConfig",
    "ResolverStats",
    "ZoneBackend",
    "parse_nameserver",
    "run_async",
]

T = TypeVar("T")


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"`` → ``("127.0.0.1", 5353)``; ``"[::1]:53"``, ``"::1"`` and ``"192.0.2.1"``
    (port 53) work too. Only IP addresses: a nameserver cannot be found by name."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"dns.nameservers: unclosed '[' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ConfigError(f"dns.nameservers: bad port in {text!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ConfigError(f"dns.nameservers: bad port in {text!r}")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"dns.nameservers: {text!r} is not an IP address[:port]") from None
    if not 0 < port < 65536:
        raise ConfigError(f"dns.nameservers: port out of range in {text!r}")
    return host, port


@dataclass(frozen=True)
class ResolverConfig:
    """How the shared resolver asks and caches."""

    nameservers: tuple[str, ...] = ()
    """``host[:port]`` of recursive resolvers (IPv6 in brackets); empty: the system's."""
    timeout: float = 2.0
    """Seconds to wait for one server's reply before trying the next."""
    lifetime: float = 5.0
    """Seconds one lookup may take in all (then it is a TIMEOUT)."""
    cache_entries: int = 10_000
    """Most answers kept; the least recently used go first."""
    max_ttl: int = 86_400
    """Cap on how long records are cached, whatever their TTL."""
    max_negative_ttl: int = 3_600
    """Cap on how long NXDOMAIN/NODATA are cached (RFC 2308 section 5)."""
    error_ttl: int = 5
    """How long a SERVFAIL or TIMEOUT is remembered (0: not at all)."""

    def __post_init__(self) -> None:
        for server in self.nameservers:
            parse_nameserver(server)
        if (
            self.cache_entries < 0
            or self.max_ttl < 0
            or self.max_negative_ttl < 0
            or self.error_ttl < 0
        ):
            raise ConfigError("dns: cache sizes and TTL caps cannot be negative")


class Backend(Protocol):
    """Where uncached answers come from."""

    async def lookup(self, query: DnsQuery) -> DnsAnswer:
        """Answer ``query`` (errors as answers)."""
        ...


class DnsLookup(Protocol):
    """Anything :func:`run_async` can ask: a :class:`Resolver`, or a stub in tests."""

    async def query(self, query: DnsQuery) -> DnsAnswer:
        """Answer ``query`` (errors as answers)."""
        ...


# --------------------------------------------------------------------------- cache


class DnsCache:
    """Answers with an expiry time, bounded in entries (LRU). Times come from the caller."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[DnsQuery, tuple[float, DnsAnswer]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, query: DnsQuery, now: float) -> DnsAnswer | None:
        """The cached answer with the TTL left, or None when absent or expired."""
        entry = self._entries.get(query)
        if entry is None:
            return None
        expires, answer = entry
        if now >= expires:
            del self._entries[query]
            return None
        self._entries.move_to_end(query)
        return answer.with_ttl(int(expires - now))

    def put(self, answer: DnsAnswer, ttl: int, now: float) -> None:
        """Keep ``answer`` for ``ttl`` seconds from ``now`` (0: forget any older entry)."""
        query = answer.query
        if ttl <= 0 or self.max_entries == 0:
            self.discard(query)
            return
        self._entries[query] = (now + ttl, answer)
        self._entries.move_to_end(query)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, query: DnsQuery) -> None:
        """Forget the answer to ``query``."""
        self._entries.pop(query, None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


@dataclass
class ResolverStats:
    """Counters for metrics."""

    queries: int = 0
    """Questions asked of the resolver."""
    hits: int = 0
    """Answered from the cache."""
    joined: int = 0
    """Answered by joining an identical lookup in flight."""
    lookups: int = 0
    """Lookups made on the backend."""
    failures: dict[DnsError, int] = field(default_factory=dict)
    """Backend answers by error kind."""


class Resolver:
    """The shared caching resolver. ``Resolver(config)`` in production; tests inject a backend
    and a clock."""

    def __init__(
        self,
        config: ResolverConfig | None = None,
        *,
        backend: Backend | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config or ResolverConfig()
        self.backend: Backend = backend if backend is not None else DnspythonBackend(self.config)
        self.clock = clock
        self.cache = DnsCache(self.config.cache_entries)
        self.stats = ResolverStats()
        self._inflight: dict[DnsQuery, asyncio.Task[DnsAnswer]] = {}

    async def query(self, query: DnsQuery) -> DnsAnswer:
        """The answer to ``query``, from the cache when it is still fresh."""
        self.stats.queries += 1
        cached = self.cache.get(query, self.clock.now())
        if cached is not None:
            self.stats.hits += 1
            return cached
        task = self._inflight.get(query)
        if task is None:
            task = asyncio.ensure_future(self._fetch(query))
            self._inflight[query] = task
        else:
            self.stats.joined += 1
        # shield: a caller that gives up does not cancel the lookup the others wait for
        return await asyncio.shield(task)

    async def resolve(self, name: str, rdtype: RRType) -> DnsAnswer:
        """``query(DnsQuery(name, rdtype))``."""
        return await self.query(DnsQuery(name, rdtype))

    async def _fetch(self, query: DnsQuery) -> DnsAnswer:
        try:
            self.stats.lookups += 1
            answer = await self.backend.lookup(query)
            if answer.error is not None:
                self.stats.failures[answer.error] = self.stats.failures.get(answer.error, 0) + 1
            ttl = self.cache_ttl(answer)
            self.cache.put(answer, ttl, self.clock.now())
            return answer.with_ttl(ttl)
        finally:
            self._inflight.pop(query, None)

    def cache_ttl(self, answer: DnsAnswer) -> int:
        """How long ``answer`` is cached, under this resolver's caps."""
        c = self.config
        if answer.error is None:
            return min(answer.ttl, c.max_ttl)
        if answer.error.temporary:
            return c.error_ttl
        return min(answer.ttl, c.max_negative_ttl)

    def forget(self, queries: Iterable[DnsQuery] | None = None) -> None:
        """Drop cached answers (all of them, or those of ``queries``)."""
        if queries is None:
            self.cache.clear()
            return
        for q in queries:
            self.cache.discard(q)

    async def close(self) -> None:
        """Cancel lookups in flight (at shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_async(flow: Flow[T], resolver: DnsLookup) -> T:
    """Run a DNS flow (see :mod:`postoffice.auth.dns`) to its result with ``resolver``; a tuple of
    queries is answered concurrently. Exceptions raised by the flow propagate."""
    reply: DnsAnswer | tuple[DnsAnswer, ...] | None = None
    while True:
        try:
            request = flow.send(reply) if reply is not None else next(flow)
        except StopIteration as stop:
            result: T = stop.value
            return result
        if isinstance(request, DnsQuery):
            reply = await resolver.query(request)
        else:
            reply = tuple(await asyncio.gather(*(resolver.query(q) for q in request)))


# --------------------------------------------------------------------------- backends


class ZoneBackend:
    """Answers from in-memory zone data (:class:`~postoffice.auth.dns.Zone`)."""

    def __init__(self, zone: Zone | ZoneData) -> None:
        self.zone = zone if isinstance(zone, Zone) else Zone.from_data(zone)

    async def lookup(self, query: DnsQuery) -> DnsAnswer:
        return self.zone.answer(query)


def _text(name: dns.name.Name) -> str:
    return str(name.to_text(omit_final_dot=True)).lower() if name != dns.name.root else "."


def _convert(rdtype: RRType, rdata: object) -> DnsRecord:
    if isinstance(rdata, dns.rdtypes.IN.A.A):
        return ipaddress.IPv4Address(rdata.address)
    if isinstance(rdata, dns.rdtypes.IN.AAAA.AAAA):
        return ipaddress.IPv6Address(rdata.address)
    if isinstance(rdata, dns.rdtypes.ANY.MX.MX):
        return MxRecord(int(rdata.preference), _text(rdata.exchange))
    if isinstance(rdata, dns.rdtypes.ANY.TXT.TXT):
        return TxtRecord(tuple(bytes(s) for s in rdata.strings))
    if isinstance(rdata, dns.rdtypes.ANY.PTR.PTR):
        return PtrRecord(_text(rdata.target))
    raise TypeError(f"unexpected {type(rdata).__name__} record in a {rdtype} answer")


def _soa_ttl(response: dns.message.Message) -> int | None:
    """The negative TTL of RFC 2308 section 5: min(SOA TTL, SOA MINIMUM), or None without SOA."""
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            soa = rrset[0]
            assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
            return int(min(rrset.ttl, soa.minimum))
    return None


def _is_referral(response: dns.message.Message) -> bool:
    """A non-authoritative reply with NS records in the authority section and no answer."""
    if response.flags & dns.flags.AA:
        return False
    return any(rrset.rdtype == dns.rdatatype.NS for rrset in response.authority)


class DnspythonBackend:
    """Lookups with one ``dns.asyncresolver.Resolver`` (its own cache off: :class:`Resolver`
    caches)."""

    def __init__(self, config: ResolverConfig) -> None:
        if config.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(s)) for s in config.nameservers
            ]
        else:
            try:
                resolver = dns.asyncresolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration as exc:
                raise ConfigError(
                    f"dns: no system nameservers ({exc}); set [dns] nameservers"
                ) from None
        resolver.cache = None
        resolver.timeout = config.timeout
        resolver.lifetime = config.lifetime
        resolver.use_edns(0, 0, 1232)  # DNS flag day 2020: no fragmentation, TCP beyond
        self.resolver = resolver

    @property
    def servers(self) -> Sequence[str]:
        """The servers asked, as ``address@port`` (for logs)."""
        return [str(ns) for ns in self.resolver.nameservers]

    async def lookup(self, query: DnsQuery) -> DnsAnswer:
        try:
            qname = dns.name.from_text(query.name)
        except (dns.exception.DNSException, UnicodeError) as exc:
            return DnsAnswer.failure(query, DnsError.NXDOMAIN, detail=f"invalid name: {exc}")
        rdtype = dns.rdatatype.from_text(query.rdtype.value)
        seen: list[dns.name.Name] = []
        chain_ttl = 2**31 - 1
        while True:
            try:
                answer = await self.resolver.resolve(
                    qname, rdtype, raise_on_no_answer=False, search=False
                )
            except dns.resolver.NXDOMAIN as exc:
                canonical = (
                    _text(exc.canonical_name) if seen or exc.canonical_name != qname else None
                )
                responses: dict[dns.name.Name, dns.message.Message] = exc.kwargs.get(
                    "responses", {}
                )
                response = responses.get(qname)
                soa_ttl = _soa_ttl(response) if response is not None else None
                ttl = min(chain_ttl, soa_ttl) if soa_ttl is not None else 0
                return DnsAnswer(query, (), ttl, DnsError.NXDOMAIN, canonical, detail=str(exc))
            except dns.resolver.NoNameservers as exc:
                return DnsAnswer.failure(query, DnsError.SERVFAIL, detail=str(exc))
            except dns.exception.Timeout as exc:
                return DnsAnswer.failure(query, DnsError.TIMEOUT, detail=str(exc))
            except dns.exception.DNSException as exc:  # YXDOMAIN, malformed replies, chain too long
                return DnsAnswer.failure(
                    query, DnsError.SERVFAIL, detail=f"{type(exc).__name__}: {exc}"
                )
            result = answer.chaining_result
            chain_ttl = min(chain_ttl, result.minimum_ttl)
            canonical_name = answer.canonical_name
            canonical = _text(canonical_name) if seen or canonical_name != qname else None
            if answer.rrset is not None:
                records = tuple(_convert(query.rdtype, rd) for rd in answer.rrset)
                return DnsAnswer(query, records, chain_ttl, None, canonical)
            soa_ttl = _soa_ttl(answer.response)
            if result.cnames and soa_ttl is None:
                # An authoritative server answered with a CNAME into a zone it does not serve:
                # follow it, as a recursive resolver would.
                seen.append(qname)
                if canonical_name in seen or len(seen) >= MAX_CNAME_CHAIN:
                    return DnsAnswer.failure(
                        query,
                        DnsError.SERVFAIL,
                        detail=f"CNAME loop or chain too long at {canonical_name}",
                    )
                qname = canonical_name
                continue
            if soa_ttl is None and _is_referral(answer.response):
                # A non-recursive server handing us down a delegation is no answer at all:
                # treating it as NODATA would turn a resolver problem into bounces.
                return DnsAnswer.failure(
                    query,
                    DnsError.SERVFAIL,
                    detail=f"{answer.nameserver}@{answer.port}: referral, the server does not recurse",
                )
            ttl = min(chain_ttl, soa_ttl) if soa_ttl is not None else 0
            return DnsAnswer(query, (), ttl, DnsError.NODATA, canonical)
