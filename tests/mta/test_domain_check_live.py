"""`check_domain` against a real authoritative server (Knot DNS) serving the records `domain dns`
gives, and a real HTTPS policy host (certificate from a test CA, injected as the trust)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.dkim.keys import generate_key, public_key_record, record_name
from postoffice.mta.dkim import Keyring
from postoffice.mta.dns import Resolver, ResolverConfig
from postoffice.mta.domain_check import Expected, all_pass, check_domain, policy_check
from postoffice.mta.record_checks import Row, Status
from postoffice.policy.published import Publish, Record
from postoffice.testing.certs import Authority, PolicyServer, Reply
from postoffice.testing.dns import AuthoritativeDns, published_zone

D = "example.test"


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


@pytest.fixture
def policy_host(ca: Authority) -> Iterator[PolicyServer]:
    server = PolicyServer(ca.server(f"mta-sts.{D}"))
    yield server
    server.stop()


@pytest.fixture
def expected(tmp_path: Path) -> Expected:
    keyring = Keyring(tmp_path)
    keyring.create(D, dt.date.today())
    dkim = tuple(Record(r.type, r.name, r.value) for r in keyring.records(D))
    active = frozenset(record_name(k.selector, D) for k in keyring.active(D))
    return Expected(D, Publish(mx=("mail.example.test",)), dkim, active)


def zone(exp: Expected) -> dict[str, Any]:
    data: dict[str, Any] = published_zone(asdict(r) for r in exp.records())
    data["mail.example.test"] = [{"A": "127.0.0.1"}]  # the policy host, via the CNAME
    return data


def check(dns: AuthoritativeDns, exp: Expected, ca: Authority, port: int) -> dict[tuple[str, str], Row]:
    """The rows by (type, name)."""

    async def run() -> list[Row]:
        resolver = Resolver(ResolverConfig(nameservers=(dns.nameserver,), lifetime=3.0))
        try:
            return await check_domain(exp, resolver, ssl_context=ca.trust(), port=port)
        finally:
            await resolver.close()

    return {(row.type, row.name): row for row in asyncio.run(run())}


def test_published_records_pass_and_broken_ones_are_named(
    expected: Expected, ca: Authority, policy_host: PolicyServer
) -> None:
    policy_host.reply = Reply(expected.policy.encode())
    data = zone(expected)
    with AuthoritativeDns({D: data}) as dns:
        rows = check(dns, expected, ca, policy_host.port)
        assert all_pass(list(rows.values())), [r for r in rows.values() if r.status != "pass"]
        assert len(rows) == 9 and ("HTTPS", expected.policy_url) in rows
        assert policy_host.requests == [(f"mta-sts.{D}", "/.well-known/mta-sts.txt")]
        dmarc, spf = ("TXT", f"_dmarc.{D}"), ("TXT", D)
        assert "only monitors" in rows[dmarc].advice  # p=none: a note, still a pass

        rsa_name = next(r.name for r in expected.dkim if "k=rsa" in r.value)
        other_key = public_key_record(generate_key("rsa-sha256"))
        mx = [entry for entry in data[D] if "MX" in entry]
        broken = {**data, rsa_name: [{"TXT": [other_key[:255], other_key[255:]]}],
                  D: [*mx, {"TXT": "v=spf1 ip4:192.0.2.1 ~all"}]}
        del broken[f"_dmarc.{D}"]
        dns.set_zone(D, broken)
        rows = check(dns, expected, ca, policy_host.port)
        status = {key: row.status for key, row in rows.items()}
        dkim = ("TXT", rsa_name)
        assert status.pop(dkim) is Status.WRONG and "another key" in rows[dkim].advice
        assert status.pop(dmarc) is Status.MISSING
        assert status.pop(spf) is Status.WRONG and "127.0.0.1 gets softfail" in rows[spf].advice
        assert set(status.values()) == {Status.PASS}


def test_policy_host_problems_are_wrong_with_the_reason(
    expected: Expected, ca: Authority, policy_host: PolicyServer
) -> None:
    with AuthoritativeDns({D: zone(expected)}) as dns:
        async def policy(**kw: Any) -> Row:
            resolver = Resolver(ResolverConfig(nameservers=(dns.nameserver,), lifetime=3.0))
            try:
                return await policy_check(expected, resolver, port=policy_host.port, **kw)
            finally:
                await resolver.close()

        policy_host.reply = Reply(expected.policy.replace("testing", "enforce").encode())
        row = asyncio.run(policy(ssl_context=ca.trust()))
        assert row.status is Status.WRONG and "mode enforce, not testing" in row.advice
        assert "mode: enforce" in row.found

        untrusted = asyncio.run(policy())  # the system's trust does not know the test CA
        assert untrusted.status is Status.WRONG and "certificate" in untrusted.found

        policy_host.reply = Reply(b"not found", status=404)
        missing = asyncio.run(policy(ssl_context=ca.trust()))
        assert missing.status is Status.WRONG and "HTTP status 404" in missing.found
