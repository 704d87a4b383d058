#!/usr/bin/env python3
"""SPF speed: checks per second with warm DNS, postoffice next to pyspf.

The policy is a realistic one: the domain's record includes a provider's record, which
includes a netblocks record (two levels of ``include:``), with ``ip4:``/``ip6:`` ranges at
every level. Three clients: one that passes on the deepest level, one that fails after every
term was evaluated, and an IPv6 one that passes. Each figure is the best of ``--rounds`` timed
runs of ``--seconds`` each, on one core.

* ``postoffice``: :func:`postoffice.auth.spf.check_mail_from` driven by a warm answer cache
  (a dict from query to answer, filled from the zone before timing), as the production resolver
  cache answers a busy MX.
* ``postoffice run_sync``: the same flow through :func:`postoffice.auth.dns.run_sync`, which
  builds every answer from the in-memory :class:`~postoffice.auth.dns.Zone` again.
* ``pyspf``: ``spf.check2`` with its DNS function answering from a dict (pyspf keeps a cache per
  check, so every check asks the dict again, as ours asks the answer cache).

Run ``.venv/bin/python bench/spf_speed.py`` (pyspf is optional: ``pip install pyspf``);
``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import postoffice
from postoffice.auth.dns import DnsAnswer, DnsQuery, Flow, Zone, run_sync
from postoffice.auth.spf import SpfResult, check_mail_from

try:
    import spf as pyspf
except ImportError:  # pyspf is only the yardstick
    pyspf = None

HELO, SENDER = "mail.example.org", "newsletter@example.org"
ZONE_DATA: dict[str, list[dict[str, object]]] = {
    "example.org": [{"TXT": "v=spf1 include:_spf.provider.example ip4:198.51.100.0/24 "
                            "ip4:198.51.101.16/28 mx:relay.example.org -all"}],
    "_spf.provider.example": [{"TXT": "v=spf1 ip4:203.0.113.0/26 ip4:203.0.113.128/25 "
                                      "ip6:2001:db8:10::/48 include:_netblocks.provider.example "
                                      "~all"}],
    "_netblocks.provider.example": [{"TXT": ["v=spf1 ip4:192.0.2.0/27 ip4:192.0.2.64/27 ",
                                             "ip4:192.0.2.128/26 ip4:192.0.2.224/28 ",
                                             "ip6:2001:db8:20::/44 ip6:2001:db8:40::/44 ~all"]}],
    "relay.example.org": [{"MX": [10, "mx1.example.org"]}],
    "mx1.example.org": [{"A": "198.51.102.1"}, {"AAAA": "2001:db8:1::1"}],
}
CLIENTS = {"pass, 2 includes deep": "192.0.2.230", "fail, every term": "192.0.2.40",
           "pass, IPv6": "2001:db8:41::25"}
EXPECTED = {"pass, 2 includes deep": "pass", "fail, every term": "fail", "pass, IPv6": "pass"}


def run_cached(flow: Flow[SpfResult], cache: dict[DnsQuery, DnsAnswer], zone: Zone) -> SpfResult:
    """Drive a flow from an answer cache (filled from ``zone`` on a miss)."""
    reply: Any = None
    try:
        while True:
            request = flow.send(reply) if reply is not None else next(flow)
            if isinstance(request, DnsQuery):
                reply = cache.get(request) or cache.setdefault(request, zone.answer(request))
            else:
                reply = tuple(cache.get(q) or cache.setdefault(q, zone.answer(q)) for q in request)
    except StopIteration as stop:
        result: SpfResult = stop.value
        return result


def pyspf_dns() -> Callable[..., list[tuple[tuple[str, str], object]]]:
    """A DNS function for pyspf answering from ZONE_DATA (the shapes its dnspython one returns)."""
    table: dict[tuple[str, str], list[tuple[tuple[str, str], object]]] = {}
    for name, records in ZONE_DATA.items():
        for record in records:
            (rdtype, value), = record.items()
            if rdtype == "TXT":
                strings = [value] if isinstance(value, str) else value
                assert isinstance(strings, list)
                value = tuple(s.encode() for s in strings)
            elif rdtype == "MX":
                assert isinstance(value, list)
                value = tuple(value)
            table.setdefault((name, rdtype), []).append(((name, rdtype), value))

    def lookup(name: str, qtype: str, *args: object, **kwargs: object) -> list[Any]:
        return table.get((name.lower().rstrip("."), qtype), [])

    return lookup


def rate(operation: Callable[[], object], seconds: float, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while (now := time.perf_counter()) < deadline or count == 0:
            operation()
            count += 1
        best = max(best, count / (now - start))
    return best


def bench(seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    zone = Zone.from_data(ZONE_DATA)
    cache: dict[DnsQuery, DnsAnswer] = {}
    if pyspf is not None:
        pyspf.DNSLookup = pyspf_dns()
    results: dict[str, dict[str, float]] = {}
    for case, ip in CLIENTS.items():
        def ours(ip: str = ip) -> SpfResult:
            return run_cached(check_mail_from(ip, SENDER, HELO), cache, zone)

        def ours_sync(ip: str = ip) -> SpfResult:
            return run_sync(check_mail_from(ip, SENDER, HELO), zone)

        # both give the expected answer before anything is timed
        assert ours().result == ours_sync().result == EXPECTED[case], case
        figures = {"postoffice": rate(ours, seconds, rounds),
                   "postoffice run_sync": rate(ours_sync, seconds, rounds)}
        if pyspf is not None:
            def theirs(ip: str = ip) -> object:
                return pyspf.check2(i=ip, s=SENDER, h=HELO)

            assert pyspf.check2(i=ip, s=SENDER, h=HELO)[0] == EXPECTED[case], case
            figures["pyspf"] = rate(theirs, seconds, rounds)
        results[case] = figures
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per figure (the best counts)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = bench(args.seconds, args.rounds)
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return
    theirs = f"pyspf {metadata.version('pyspf')}" if pyspf is not None else "pyspf not installed"
    print(f"SPF checks/s, warm DNS; postoffice {postoffice.__version__}, {theirs}, "
          f"Python {platform.python_version()}, one core")
    print(f"{'client':<24}{'postoffice':>12}{'(run_sync)':>12}{'pyspf':>10}{'ratio':>8}")
    for case, figures in results.items():
        ours, sync = figures["postoffice"], figures["postoffice run_sync"]
        if "pyspf" in figures:
            other = figures["pyspf"]
            print(f"{case:<24}{ours:>12,.0f}{sync:>12,.0f}{other:>10,.0f}{ours / other:>7.1f}x")
        else:
            print(f"{case:<24}{ours:>12,.0f}{sync:>12,.0f}{'-':>10}{'-':>8}")


if __name__ == "__main__":
    main()
