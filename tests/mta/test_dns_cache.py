"""The shared resolver's cache: TTLs, negative answers, failures, bounds (fake clock, stub backend)."""

import asyncio
from collections.abc import Callable
from ipaddress import IPv4Address

import dns.nameserver
import pytest

from postoffice.auth.dns import DnsAnswer, DnsError, DnsQuery, Flow, RRType, lookup, lookup_all
from postoffice.errors import ConfigError
from postoffice.mta.dns import (
    DnsCache,
    DnspythonBackend,
    Resolver,
    ResolverConfig,
    ZoneBackend,
    parse_nameserver,
    run_async,
)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class StubBackend:
    """Answers from a function of the query; counts lookups; can hold them until released."""

    def __init__(self, answer: Callable[[DnsQuery], DnsAnswer]) -> None:
        self.answer = answer
        self.calls: list[DnsQuery] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None

    async def lookup(self, query: DnsQuery) -> DnsAnswer:
        self.calls.append(query)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            return self.answer(query)
        finally:
            self.in_flight -= 1


def a_record(ttl: int) -> Callable[[DnsQuery], DnsAnswer]:
    return lambda q: DnsAnswer(q, (IPv4Address("192.0.2.1"),), ttl)


def failing(error: DnsError, ttl: int = 0) -> Callable[[DnsQuery], DnsAnswer]:
    return lambda q: DnsAnswer.failure(q, error, ttl=ttl)


Q = DnsQuery("mx.example.org", RRType.A)


def make(
    answer: Callable[[DnsQuery], DnsAnswer], **config: int
) -> tuple[Resolver, StubBackend, FakeClock]:
    backend = StubBackend(answer)
    clock = FakeClock()
    return Resolver(ResolverConfig(**config), backend=backend, clock=clock), backend, clock


def ask(resolver: Resolver, *queries: DnsQuery) -> list[DnsAnswer]:
    async def main() -> list[DnsAnswer]:
        return [await resolver.query(q) for q in queries]

    return asyncio.run(main())


def test_records_are_cached_for_their_ttl() -> None:
    resolver, backend, clock = make(a_record(300))
    first = ask(resolver, Q)[0]
    assert first.ttl == 300 and first.addresses == (IPv4Address("192.0.2.1"),)
    clock.advance(100)
    again = ask(resolver, Q)[0]
    assert again.ttl == 200 and again.addresses == first.addresses  # the time left
    assert len(backend.calls) == 1
    clock.advance(199)
    assert ask(resolver, Q)[0].ttl == 1 and len(backend.calls) == 1
    clock.advance(1)
    ask(resolver, Q)
    assert len(backend.calls) == 2  # expired: asked again
    assert resolver.stats.hits == 2 and resolver.stats.lookups == 2


def test_ttl_is_capped() -> None:
    resolver, backend, clock = make(a_record(7 * 86_400), max_ttl=3_600)
    assert ask(resolver, Q)[0].ttl == 3_600
    clock.advance(3_600)
    ask(resolver, Q)
    assert len(backend.calls) == 2


def test_zero_ttl_is_not_cached() -> None:
    resolver, backend, _ = make(a_record(0))
    ask(resolver, Q, Q)
    assert len(backend.calls) == 2


@pytest.mark.parametrize("error", [DnsError.NXDOMAIN, DnsError.NODATA])
def test_negative_answers_are_cached_for_the_soa_minimum(error: DnsError) -> None:
    resolver, backend, clock = make(failing(error, ttl=900))
    assert ask(resolver, Q)[0].error is error
    clock.advance(899)
    cached = ask(resolver, Q)[0]
    assert cached.error is error and cached.ttl == 1 and len(backend.calls) == 1
    clock.advance(1)
    ask(resolver, Q)
    assert len(backend.calls) == 2


def test_negative_ttl_is_capped_and_without_soa_not_cached() -> None:
    resolver, backend, clock = make(failing(DnsError.NXDOMAIN, ttl=86_400), max_negative_ttl=600)
    assert ask(resolver, Q)[0].ttl == 600
    clock.advance(600)
    ask(resolver, Q)
    assert len(backend.calls) == 2

    resolver, backend, clock = make(failing(DnsError.NODATA, ttl=0))
    ask(resolver, Q, Q)
    assert len(backend.calls) == 2


@pytest.mark.parametrize("error", [DnsError.SERVFAIL, DnsError.TIMEOUT])
def test_temporary_failures_are_remembered_only_briefly(error: DnsError) -> None:
    # even if a backend claimed a long TTL, a failure is kept for error_ttl seconds only
    resolver, backend, clock = make(failing(error, ttl=3_600), error_ttl=5)
    first = ask(resolver, Q)[0]
    assert first.error is error and first.temporary and first.ttl == 5
    clock.advance(4)
    assert ask(resolver, Q)[0].error is error and len(backend.calls) == 1
    clock.advance(1)
    ask(resolver, Q)
    assert len(backend.calls) == 2
    assert resolver.stats.failures[error] == 2


def test_temporary_failures_can_go_uncached() -> None:
    resolver, backend, _ = make(failing(DnsError.SERVFAIL), error_ttl=0)
    ask(resolver, Q, Q, Q)
    assert len(backend.calls) == 3


def test_a_success_after_a_failure_replaces_it() -> None:
    outcomes = [failing(DnsError.TIMEOUT), a_record(60)]
    resolver, backend, clock = make(lambda q: outcomes[min(len(backend.calls), 2) - 1](q))
    assert ask(resolver, Q)[0].error is DnsError.TIMEOUT
    clock.advance(5)
    assert ask(resolver, Q)[0].ok
    clock.advance(30)
    assert ask(resolver, Q)[0].ok and len(backend.calls) == 2


def test_cache_is_bounded_lru() -> None:
    resolver, backend, _ = make(a_record(300), cache_entries=2)
    a, b, c = (DnsQuery(f"{n}.example.org", RRType.A) for n in "abc")
    ask(resolver, a, b, a, c)  # c evicts b, the least recently used
    assert len(resolver.cache) == 2
    calls = len(backend.calls)
    ask(resolver, a, c)
    assert len(backend.calls) == calls
    ask(resolver, b)
    assert len(backend.calls) == calls + 1


def test_cache_entries_are_per_name_and_type() -> None:
    resolver, backend, _ = make(lambda q: DnsAnswer.failure(q, DnsError.NODATA, ttl=60))
    ask(resolver, Q, DnsQuery(Q.name, RRType.AAAA), DnsQuery("MX.Example.org.", RRType.A))
    assert len(backend.calls) == 2  # the third is the first in another spelling


def test_forget() -> None:
    resolver, backend, _ = make(a_record(300))
    other = DnsQuery("other.example.org", RRType.A)
    ask(resolver, Q, other)
    resolver.forget([Q])
    ask(resolver, Q, other)
    assert len(backend.calls) == 3
    resolver.forget()
    assert len(resolver.cache) == 0


def test_dns_cache_alone() -> None:
    cache = DnsCache(10)
    answer = DnsAnswer(Q, (IPv4Address("192.0.2.1"),), 60)
    cache.put(answer, 60, now=100.0)
    assert cache.get(Q, 100.0) == answer.with_ttl(60)
    assert cache.get(Q, 159.5) is not None and cache.get(Q, 160.0) is None
    assert len(cache) == 0  # expired entries are dropped when seen
    DnsCache(0).put(answer, 60, 0.0)  # a zero-size cache keeps nothing


def test_identical_lookups_in_flight_are_joined() -> None:
    resolver, backend, _ = make(a_record(300))

    async def main() -> list[DnsAnswer]:
        backend.gate = asyncio.Event()
        tasks = [asyncio.ensure_future(resolver.query(Q)) for _ in range(5)]
        loser = asyncio.ensure_future(resolver.query(Q))
        await asyncio.sleep(0.01)
        loser.cancel()  # one caller giving up does not cancel the others' lookup
        backend.gate.set()
        return list(await asyncio.gather(*tasks))

    answers = asyncio.run(main())
    assert len(backend.calls) == 1 and all(a.ok for a in answers)
    assert resolver.stats.joined == 5


def test_run_async_answers_batches_concurrently_in_order() -> None:
    zone = {"example.org": [{"MX": [10, "a.example.org"]}, {"MX": [20, "b.example.org"]}],
            "a.example.org": [{"A": "192.0.2.1"}], "b.example.org": [{"A": "192.0.2.2"}]}
    inner = ZoneBackend(zone)
    backend = StubBackend(inner.zone.answer)
    resolver = Resolver(backend=backend, clock=FakeClock())

    def flow() -> Flow[list[str]]:
        mx = yield from lookup("example.org", RRType.MX)
        answers = yield from lookup_all(
            [DnsQuery(r.exchange, RRType.A) for r in mx.mx] + [DnsQuery("none.example.org", RRType.A)]
        )
        return [str(a.addresses[0]) if a.ok else str(a.error) for a in answers]

    assert asyncio.run(run_async(flow(), resolver)) == ["192.0.2.1", "192.0.2.2", "nxdomain"]
    assert backend.max_in_flight == 3


def test_run_async_propagates_flow_errors() -> None:
    resolver = Resolver(backend=ZoneBackend({}), clock=FakeClock())

    def flow() -> Flow[None]:
        answer = yield from lookup("example.org", RRType.A)
        raise LookupError(answer.error)

    with pytest.raises(LookupError, match="nxdomain"):
        asyncio.run(run_async(flow(), resolver))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[2001:db8::53]", ("2001:db8::53", 53)),
        ("2001:db8::53", ("2001:db8::53", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("text", ["dns.example:53", "127.0.0.1:", "127.0.0.1:99999", "[::1", "[::1]53", "[::1]:x"])
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="dns.nameservers"):
        parse_nameserver(text)


def test_config_and_backend_from_nameservers() -> None:
    with pytest.raises(ConfigError):
        ResolverConfig(nameservers=("localhost:53",))
    with pytest.raises(ConfigError):
        ResolverConfig(error_ttl=-1)
    backend = DnspythonBackend(ResolverConfig(nameservers=("127.0.0.1:5353", "[::1]:53"), timeout=1.0))
    servers = backend.resolver.nameservers
    assert all(isinstance(s, dns.nameserver.Do53Nameserver) for s in servers)
    assert [(s.address, s.port) for s in servers] == [("127.0.0.1", 5353), ("::1", 53)]  # type: ignore[union-attr]
    assert backend.resolver.cache is None and backend.resolver.timeout == 1.0


def test_close_cancels_lookups_in_flight() -> None:
    resolver, backend, _ = make(a_record(300))

    async def main() -> bool:
        backend.gate = asyncio.Event()  # never set: the lookup hangs until cancelled
        waiter = asyncio.ensure_future(resolver.query(Q))
        await asyncio.sleep(0.01)
        await resolver.close()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return not resolver._inflight

    assert asyncio.run(main())
