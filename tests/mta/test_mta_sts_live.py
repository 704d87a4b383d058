"""MTA-STS discovery against a real HTTPS server on 127.0.0.1 (certificates from a test CA) and
TXT records from zone data; one test takes them from a real authoritative server (Knot DNS)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.dns import ZoneData
from postoffice.mta.dns import Resolver, ResolverConfig, ZoneBackend
from postoffice.mta.mta_sts import MAX_SIZE, WELL_KNOWN, FetchError, MtaSts
from postoffice.policy.mta_sts import Mode, Policy
from postoffice.server.tls import generate_self_signed, server_context
from postoffice.testing.certs import Authority, PolicyServer, Reply

DOMAIN = "example.test"
POLICY_HOST = f"mta-sts.{DOMAIN}"
ENFORCE = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 600\r\n"
TESTING = b"version: STSv1\nmode: testing\nmx: mx9.example.test\nmax_age: 86400\n"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# --------------------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


# --------------------------------------------------------------------------- HTTPS server

@pytest.fixture
def server(ca: Authority) -> Iterator[PolicyServer]:
    s = PolicyServer(ca.server(POLICY_HOST, "mta-sts.knot.test"))
    yield s
    s.stop()


# --------------------------------------------------------------------------- DNS and the client

def zone(txt: object = "v=STSv1; id=one;") -> ZoneData:
    """The policy host's address and the TXT record: text, a list of strings, "SERVFAIL" or
    "TIMEOUT", or None (no such name)."""
    data: dict[str, list[Any]] = {POLICY_HOST: [{"A": "127.0.0.1"}]}
    if txt in ("SERVFAIL", "TIMEOUT"):
        data[f"_mta-sts.{DOMAIN}"] = [txt]
    elif txt is not None:
        data[f"_mta-sts.{DOMAIN}"] = [{"TXT": txt}]
    return data


class World:
    """The zone, the resolver and the clock one test changes."""

    def __init__(self, ca: Authority, server: PolicyServer, tmp_path: Path) -> None:
        self.ca, self.server, self.cache_dir = ca, server, tmp_path / "cache" / "mta-sts"
        self.clock = FakeClock()
        self.resolver = Resolver(backend=ZoneBackend(zone()), clock=self.clock)

    def set_txt(self, txt: object) -> None:
        self.resolver.backend = ZoneBackend(zone(txt))
        self.resolver.forget()

    def client(self, **kw: Any) -> MtaSts:
        kw.setdefault("port", self.server.port)
        kw.setdefault("ssl_context", self.ca.trust())
        kw.setdefault("cache_dir", self.cache_dir)
        return MtaSts(self.resolver, clock=self.clock, **kw)


@pytest.fixture
def world(ca: Authority, server: PolicyServer, tmp_path: Path) -> World:
    return World(ca, server, tmp_path)


def policy(client: MtaSts, domain: str = DOMAIN) -> Policy | None:
    return asyncio.run(client.policy(domain))


def fetch_error(client: MtaSts) -> str:
    with pytest.raises(FetchError) as info:
        asyncio.run(client.fetch(DOMAIN))
    return str(info.value)


# --------------------------------------------------------------------------- fetch and cache

def test_fetch_and_cache(world: World) -> None:
    client = world.client()
    first = policy(client)
    assert first == Policy(Mode.ENFORCE, ("mx1.example.test", "*.mx.example.test"), 600)
    assert world.server.requests == [(POLICY_HOST, WELL_KNOWN)]
    cached = client.cached(DOMAIN)
    assert cached is not None and cached.id == "one"
    assert (cached.fetched_at, cached.expires_at) == (world.clock.t, world.clock.t + 600)
    world.clock.advance(599)
    world.resolver.forget()  # the TXT record is asked again: same id
    assert policy(client, "EXAMPLE.test.") == first
    assert len(world.server.requests) == 1


def test_id_change_refetches(world: World) -> None:
    client = world.client()
    assert policy(client) is not None
    world.server.reply = Reply(TESTING)
    world.set_txt("v=STSv1; id=two")
    assert policy(client) == Policy(Mode.TESTING, ("mx9.example.test",), 86400)
    assert len(world.server.requests) == 2
    cached = client.cached(DOMAIN)
    assert cached is not None and cached.id == "two"


def test_expired_cache_refetches(world: World) -> None:
    client = world.client()
    assert policy(client) is not None
    world.clock.advance(600)  # max_age: the policy has expired, the id is unchanged
    world.server.reply = Reply(TESTING)
    assert policy(client) is not None and len(world.server.requests) == 2
    cached = client.cached(DOMAIN)
    assert cached is not None and cached.policy.mode is Mode.TESTING
    assert cached.fetched_at == world.clock.t


def test_expired_cache_is_not_used_when_the_fetch_fails(world: World) -> None:
    client = world.client()
    assert policy(client) is not None
    world.server.stop()
    world.clock.advance(600)
    assert policy(client) is None
    world.set_txt("SERVFAIL")  # no TXT either: still nothing
    assert policy(client) is None


def test_server_down_with_valid_cache_keeps_the_cached_policy(world: World) -> None:
    client = world.client()
    fetched = policy(client)
    assert fetched is not None
    world.server.stop()
    world.set_txt("v=STSv1; id=two")  # a new id, but the new policy cannot be had
    world.clock.advance(60)
    assert policy(client) == fetched
    cached = client.cached(DOMAIN)
    assert cached is not None and cached.id == "one"
    assert "ConnectionRefusedError" in fetch_error(client)


def test_txt_lookup_failure_or_removal_keeps_the_cached_policy(world: World) -> None:
    client = world.client()
    fetched = policy(client)
    for txt in ("SERVFAIL", "TIMEOUT", None, "v=spf1 -all", "v=STSv1; id=bad-id"):
        world.set_txt(txt)
        assert policy(client) == fetched, txt
    assert len(world.server.requests) == 1
    world.clock.advance(600)
    assert policy(client) is None  # expired, and no record to fetch a new one for


def test_failed_fetch_is_retried_after_retry_after(world: World) -> None:
    client = world.client(retry_after=300)
    world.server.reply = Reply(b"unavailable", status=503)
    assert policy(client) is None
    world.server.reply = Reply()
    world.clock.advance(299)
    assert policy(client) is None and len(world.server.requests) == 1  # not hammered
    world.clock.advance(1)
    assert policy(client) is not None and len(world.server.requests) == 2


def test_no_usable_record_means_no_fetch(world: World) -> None:
    client = world.client()
    for txt in (None, "v=spf1 -all", "v=STSv1; id=", "SERVFAIL"):
        world.set_txt(txt)
        assert policy(client) is None, txt
    world.resolver.backend = ZoneBackend({f"_mta-sts.{DOMAIN}": [{"TXT": "v=STSv1; id=a"},
                                                                  {"TXT": "v=STSv1; id=b"}]})
    world.resolver.forget()
    assert policy(client) is None  # two records: no policy
    assert world.server.requests == []


def test_txt_record_of_several_strings(world: World) -> None:
    world.set_txt(["v=STSv1; ", "id=one;"])  # strings are joined without spaces
    assert policy(world.client()) is not None


def test_concurrent_calls_share_one_fetch(world: World) -> None:
    client = world.client()

    async def many() -> list[Policy | None]:
        return list(await asyncio.gather(*(client.policy(DOMAIN) for _ in range(5))))

    results = asyncio.run(many())
    assert all(r is not None and r == results[0] for r in results)
    assert len(world.server.requests) == 1


def test_on_uvloop(world: World) -> None:
    uvloop = pytest.importorskip("uvloop")  # what `postoffice serve` runs on
    world.server.reply = Reply(framing="chunked")
    assert uvloop.run(world.client().policy(DOMAIN)) is not None
    world.server.reply = Reply(status=301)
    world.set_txt("v=STSv1; id=two")
    with pytest.raises(FetchError, match="301"):
        uvloop.run(world.client().fetch(DOMAIN))


def test_connect_host_override(world: World) -> None:
    world.resolver.backend = ZoneBackend({f"_mta-sts.{DOMAIN}": [{"TXT": "v=STSv1; id=one"}]})
    assert policy(world.client()) is None  # the policy host has no address
    assert "has no address" in fetch_error(world.client())
    assert policy(world.client(connect_host="127.0.0.1")) is not None
    assert world.server.requests == [(POLICY_HOST, WELL_KNOWN)]


def test_bad_domains_are_not_looked_up(world: World) -> None:
    client = world.client()
    for domain in ("[192.0.2.1]", "[IPv6:2001:db8::1]", ".", "", "a/b.test"):
        assert policy(client, domain) is None
    assert world.server.requests == []


# --------------------------------------------------------------------------- what is refused

def test_wrong_certificate_name(world: World, ca: Authority) -> None:
    other = PolicyServer(ca.server("mta-sts.elsewhere.test"))  # trusted CA, wrong name
    try:
        client = world.client(port=other.port)
        assert policy(client) is None
        assert "certificate" in fetch_error(client)
        assert "mismatch" in fetch_error(client) or "doesn't match" in fetch_error(client)
    finally:
        other.stop()


def test_untrusted_certificate(world: World, tmp_path: Path) -> None:
    generate_self_signed(POLICY_HOST, tmp_path / "self.crt", tmp_path / "self.key")
    other = PolicyServer(server_context(tmp_path / "self.crt", tmp_path / "self.key"))
    try:
        client = world.client(port=other.port)  # right name, not issued by a trusted CA
        assert policy(client) is None
        assert "certificate" in fetch_error(client)
    finally:
        other.stop()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_followed(world: World, status: int) -> None:
    location = f"https://{POLICY_HOST}:{world.server.port}{WELL_KNOWN}"
    world.server.reply = Reply(ENFORCE, status, headers=(("Location", location),))
    client = world.client()
    assert policy(client) is None
    assert len(world.server.requests) == 1
    assert f"HTTP status {status} (redirects are not followed)" in fetch_error(client)


@pytest.mark.parametrize("status", [204, 404, 500])
def test_other_status_codes(world: World, status: int) -> None:
    world.server.reply = Reply(ENFORCE, status)
    assert policy(world.client()) is None


@pytest.mark.parametrize("content_type, ok", [
    ("text/plain", True),
    ("Text/Plain; charset=utf-8", True),
    ("text/html", False),
    ("application/octet-stream", False),
    ("text/plainx", False),
    (None, False),
])
def test_content_type(world: World, content_type: str | None, ok: bool) -> None:
    world.server.reply = Reply(ENFORCE, content_type=content_type)
    assert (policy(world.client()) is not None) is ok
    if not ok:
        assert "not text/plain" in fetch_error(world.client())


def _sized(size: int) -> bytes:
    """A valid policy of exactly ``size`` bytes (padded with an extension field)."""
    pad = size - len(ENFORCE) - len(b"pad: \r\n")
    return ENFORCE + b"pad: " + b"x" * pad + b"\r\n"


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_body_size_limit(world: World, framing: str) -> None:
    world.server.reply = Reply(_sized(MAX_SIZE), framing=framing)
    assert policy(world.client()) is not None  # exactly the limit: fine
    world.server.reply = Reply(_sized(MAX_SIZE + 1), framing=framing)
    assert policy(world.client(cache_dir=None)) is None
    assert f"larger than {MAX_SIZE} bytes" in fetch_error(world.client())


def test_invalid_policy(world: World) -> None:
    world.server.reply = Reply(ENFORCE.replace(b"STSv1", b"STSv2"))
    assert policy(world.client()) is None
    assert "invalid policy: version" in fetch_error(world.client())


def test_timeout(world: World) -> None:
    world.server.reply = Reply(delay=2.0)
    client = world.client(timeout=0.3)
    started = time.monotonic()
    assert policy(client) is None
    assert time.monotonic() - started < 1.5


# --------------------------------------------------------------------------- persistent cache

def test_persistent_cache_survives_a_new_instance(world: World) -> None:
    first = world.client()
    fetched = policy(first)
    assert fetched is not None
    saved = json.loads((world.cache_dir / f"{DOMAIN}.json").read_text())
    assert saved["id"] == "one" and saved["domain"] == DOMAIN
    assert [p.name for p in world.cache_dir.iterdir()] == [f"{DOMAIN}.json"]  # no temporary left
    world.server.stop()
    world.set_txt("SERVFAIL")
    world.clock.advance(300)
    again = world.client()  # a restart: nothing in memory, the server is down, DNS fails
    assert policy(again) == fetched
    cached = again.cached(DOMAIN)
    assert cached is not None and cached.id == "one" and cached.fetched_at == world.clock.t - 300


def test_persistent_cache_drops_expired_and_skips_broken_files(world: World) -> None:
    assert policy(world.client()) is not None
    (world.cache_dir / "broken.test.json").write_text("{not json")
    (world.cache_dir / "other.test.json").write_text(json.dumps({"domain": "wrong.test"}))
    (world.cache_dir / ".example.test.1234.tmp").write_text("interrupted")
    world.clock.advance(600)
    world.server.stop()
    client = world.client()
    assert policy(client) is None  # expired: not used, and removed
    assert sorted(p.name for p in world.cache_dir.iterdir()) == ["broken.test.json",
                                                                 "other.test.json"]


def test_a_refreshed_policy_replaces_the_saved_one(world: World) -> None:
    assert policy(world.client()) is not None
    world.server.reply = Reply(TESTING)
    world.set_txt("v=STSv1; id=two")
    assert policy(world.client()) is not None
    saved = json.loads((world.cache_dir / f"{DOMAIN}.json").read_text())
    assert saved["id"] == "two" and "mode: testing" in saved["policy"]


# --------------------------------------------------------------------------- real DNS

@pytest.mark.peer
def test_with_a_real_authoritative_server(ca: Authority, server: PolicyServer, tmp_path: Path) -> None:
    from postoffice.testing import peers
    from postoffice.testing.dns import KNOTD, AuthoritativeDns

    peers.require_peer("knotd", KNOTD, package="knot")
    data: ZoneData = {
        "_mta-sts": [{"TXT": "v=STSv1; id=20240101T000000;"}],
        "mta-sts": [{"A": "127.0.0.1"}],
        "@": [{"MX": [10, "mx1.mx.knot.test"]}],
    }
    server.reply = Reply(b"version: STSv1\nmode: enforce\nmx: *.mx.knot.test\nmax_age: 3600\n")
    with AuthoritativeDns({"knot.test": data}) as dns:
        clock = FakeClock()
        resolver = Resolver(ResolverConfig(nameservers=(dns.nameserver,), timeout=1.0,
                                           lifetime=2.0), clock=clock)
        client = MtaSts(resolver, cache_dir=tmp_path, clock=clock, port=server.port,
                        ssl_context=ca.trust())
        fetched = asyncio.run(client.policy("knot.test"))
        assert fetched is not None and fetched.matches("mx1.mx.knot.test")
        assert server.requests == [("mta-sts.knot.test", WELL_KNOWN)]

        server.reply = Reply(TESTING)
        dns.set_zone("knot.test", {**data, "_mta-sts": [{"TXT": "v=STSv1; id=20240102T000000;"}]})
        resolver.forget()
        assert asyncio.run(client.policy("knot.test")) == Policy(Mode.TESTING,
                                                                 ("mx9.example.test",), 86400)
        cached = client.cached("knot.test")
        assert cached is not None and cached.id == "20240102T000000"
