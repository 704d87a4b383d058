"""`postoffice domain check`: does a domain of ours publish what `postoffice domain dns` says?

Theory of operation
-------------------
:func:`check_domain` looks every record up live and compares it (:mod:`.record_checks`):

* DNS (:func:`dns_rows`, a DNS flow): the MX, SPF, DKIM, DMARC, ``_mta-sts`` TXT,
  ``mta-sts`` host and TLS-RPT records, all asked at once. SPF is then evaluated with
  ``check_host`` for each address mail leaves from: the IP pool's addresses, or without a pool
  the addresses of our MX host names (the server sends from the address it receives on);
* HTTPS (:func:`policy_check`): the MTA-STS policy fetched from ``mta-sts.<domain>`` as senders
  fetch it (:meth:`MtaSts.fetch <postoffice.mta.mta_sts.MtaSts.fetch>`: verified certificate,
  HTTP 200, text/plain), compared with the policy we serve.

The result is one :class:`~.record_checks.Row` per record, in `domain dns`'s order.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.auth.dns import DnsQuery, Flow, IPAddress, RRType, lookup, lookup_all
from postoffice.auth.spf import SpfResult, check_host
from postoffice.mta.dns import DnsLookup, run_async
from postoffice.mta.mta_sts import FetchError, MtaSts
from postoffice.mta.record_checks import (
    Row,
    Status,
    bimi_row,
    dkim_row,
    dmarc_row,
    mx_row,
    policy_row,
    spf_records,
    spf_row,
    sts_host_row,
    sts_txt_row,
    tlsrpt_row,
)
from postoffice.policy import published
from postoffice.policy.published import Publish, Record

__all__ = ["Expected", "all_pass", "check_domain", "dns_rows", "policy_check"]


@dataclass(frozen=True)
class Expected:
    """What a domain of ours should publish."""

    domain: str
    publish: Publish
    dkim: tuple[Record, ...] = ()
    """The DKIM records of every key the domain has (old keys stay published)."""
    active: frozenset[str] = frozenset()
    """The record names of the keys signing now; the others may be gone from DNS."""

    def records(self) -> list[Record]:
        return published.records(self.domain, self.publish, self.dkim)

    @property
    def policy(self) -> str:
        return published.mta_sts_policy(self.publish)

    @property
    def policy_url(self) -> str:
        return f"https://mta-sts.{self.domain}{published.MTA_STS_PATH}"


def dns_rows(expected: Expected) -> Flow[list[Row]]:
    """Every DNS record looked up and compared."""
    d, publish = expected.domain, expected.publish
    txt = {r.name: r.value for r in expected.records() if r.type == "TXT"}
    dkim = [r.name for r in expected.dkim]
    mx, spf, dmarc, sts, host_a, host_aaaa, tlsrpt, *keys = yield from lookup_all(
        [DnsQuery(d, RRType.MX), DnsQuery(d, RRType.TXT), DnsQuery(f"_dmarc.{d}", RRType.TXT),
         DnsQuery(f"_mta-sts.{d}", RRType.TXT), DnsQuery(f"mta-sts.{d}", RRType.A),
         DnsQuery(f"mta-sts.{d}", RRType.AAAA), DnsQuery(f"_smtp._tls.{d}", RRType.TXT)]
        + [DnsQuery(name, RRType.TXT) for name in dkim])
    results: list[SpfResult] = []
    unchecked = ""
    if len(spf_records(spf)) == 1:
        addresses = yield from _sending_addresses(publish)
        if not addresses:
            unchecked = (f"cannot tell where mail leaves from: {', '.join(publish.mx)} has no "
                         "A/AAAA record (publish them, or configure an IP pool)")
        for ip in addresses:
            result = yield from check_host(ip, d, f"postmaster@{d}", helo=publish.mx[0])
            results.append(result)
    rows = [mx_row(d, publish.mx, mx), spf_row(d, txt[d], spf, results, unchecked)]
    rows += [dkim_row(name, txt[name], answer, name in expected.active)
             for name, answer in zip(dkim, keys, strict=True)]
    rows.append(dmarc_row(d, txt[f"_dmarc.{d}"], dmarc))
    rows.append(sts_txt_row(d, published.mta_sts_id(expected.policy), sts))
    rows.append(sts_host_row(d, publish.mx[0], (host_a, host_aaaa)))
    rows.append(tlsrpt_row(d, txt[f"_smtp._tls.{d}"], tlsrpt))
    if publish.bimi_logo:
        bimi = yield from lookup(f"default._bimi.{d}", RRType.TXT)
        rows.append(bimi_row(d, txt[f"default._bimi.{d}"], bimi))
    return rows


def _sending_addresses(publish: Publish) -> Flow[list[IPAddress]]:
    """The pool's addresses, else those of our MX host names."""
    if publish.sending_addresses:
        return [ipaddress.ip_address(a) for a in dict.fromkeys(publish.sending_addresses)]
    answers = yield from lookup_all(
        DnsQuery(host, rdtype) for host in publish.mx for rdtype in (RRType.A, RRType.AAAA))
    return list(dict.fromkeys(a for answer in answers for a in answer.addresses))


async def policy_check(
    expected: Expected,
    resolver: DnsLookup,
    *,
    ssl_context: ssl.SSLContext | None = None,
    port: int = 443,
    timeout: float = 10.0,
) -> Row:
    """The MTA-STS policy fetched as senders fetch it, compared with ours. ``ssl_context``
    (default: the system's trust) and ``port`` are for tests."""
    client = MtaSts(resolver, ssl_context=ssl_context, port=port, timeout=timeout)
    try:
        fetched = await client.fetch(expected.domain)
    except FetchError as exc:
        reason = str(exc).removeprefix(f"{expected.policy_url}: ")
        return policy_row(expected.policy_url, expected.policy, None, reason)
    return policy_row(expected.policy_url, expected.policy, fetched)


async def check_domain(
    expected: Expected,
    resolver: DnsLookup,
    *,
    ssl_context: ssl.SSLContext | None = None,
    port: int = 443,
) -> list[Row]:
    """Every row: the DNS records, then the policy file (both looked at concurrently)."""
    rows, policy = await asyncio.gather(
        run_async(dns_rows(expected), resolver),
        policy_check(expected, resolver, ssl_context=ssl_context, port=port),
    )
    return [*rows, policy]


def all_pass(rows: Sequence[Row]) -> bool:
    return all(row.status is Status.PASS for row in rows)
