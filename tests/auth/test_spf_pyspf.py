"""postoffice.auth.spf next to pyspf (the oracle) on random records over one zone.

Records are drawn from a pool of terms (every mechanism, macros, include, redirect, exp) for a
domain and two include targets; each is checked for random clients by both, pyspf answering
from the same zone data. Two known differences are left out, both pyspf's own rules:

* pyspf also counts the address lookups of MX hosts and of PTR names as void lookups; we count
  only each term's own lookup (see postoffice.auth.spf.evaluate);
* pyspf rejects a record that includes its own domain ("trivial recursion") even when that
  term is never reached; RFC 7208 has no such rule (the 10-term limit stops real loops).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from postoffice.auth.dns import run_sync
from postoffice.auth.spf import SpfVerdict, check_mail_from
from postoffice.auth.zonedata import suite_zone_data, zone_from_suite_data

spf = pytest.importorskip("spf", reason="needs pyspf (PyPI), the SPF test oracle")

TERMS = [
    "a", "a/24", "a//64", "mx", "mx/28", "ip4:192.0.2.0/24", "ip4:192.0.2.7", "ip6:2001:db8::/32",
    "include:i1.example.org", "include:i2.example.org", "exists:%{i}.bl.example.org",
    "exists:%{l}.u.example.org", "ptr", "ptr:example.org", "a:h1.example.org", "a:%{d2}",
    "mx:i1.example.org", "?all", "-all", "~all", "+all", "redirect=i2.example.org",
    "exp=why.example.org", "a:nx%{l}.example.org", "-ip4:192.0.2.8",
    "~exists:%{ir}.%{v}.rbl.example.org",
]
CLIENTS = ["192.0.2.7", "192.0.2.8", "198.51.100.1", "2001:db8::5", "2001:db9::1", "203.0.113.9"]
PYSPF_NAMES = {"unknown": "permerror", "error": "temperror"}


def _zone(rng: random.Random) -> dict[str, list[Any]]:
    def record() -> str:
        return " ".join(["v=spf1", *rng.sample(TERMS, rng.randint(0, 5))])

    return {
        "example.org": [{"TXT": record()}, {"A": "192.0.2.7"}, {"MX": [10, "h1.example.org"]},
                        {"AAAA": "2001:db8::5"}],
        "i1.example.org": [{"TXT": record()}, {"MX": [5, "h2.example.org"]}],
        "i2.example.org": [{"TXT": record()}, {"A": "198.51.100.1"}],
        "h1.example.org": [{"A": "203.0.113.9"}],
        "h2.example.org": [{"A": "192.0.2.8"}, {"AAAA": "2001:db9::1"}],
        "why.example.org": [{"TXT": "%{c} may not send for %{d}"}],
        "7.2.0.192.in-addr.arpa": [{"PTR": "example.org"}],
        "7.2.0.192.bl.example.org": [{"A": "127.0.0.2"}],
        "bob.u.example.org": [{"A": "127.0.0.2"}],
    }


def _pyspf_dns(data: dict[str, list[Any]]) -> Any:
    table: dict[tuple[str, str], list[Any]] = {}
    for name, records in suite_zone_data(data).items():
        for record in records:
            assert isinstance(record, dict)
            ((rdtype, value),) = record.items()
            value = _pyspf_value(rdtype, value)
            table.setdefault((name, rdtype), []).append(((name, rdtype), value))
    return lambda name, qtype, *args, **kwargs: table.get((name.lower().rstrip("."), qtype), [])


def _pyspf_value(rdtype: str, value: Any) -> Any:
    """Values as pyspf's dnspython lookup returns them."""
    if rdtype == "TXT":
        return (value.encode(),)
    return tuple(value) if rdtype == "MX" else value


@pytest.mark.parametrize("seed", range(10))
def test_same_results_as_pyspf(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    compared = 0
    for _ in range(50):
        data = _zone(rng)
        zone = zone_from_suite_data(data)
        monkeypatch.setattr(spf, "DNSLookup", _pyspf_dns(data))
        for ip in rng.sample(CLIENTS, 2):
            sender = rng.choice(["bob@example.org", "alice@example.org"])
            ours = run_sync(check_mail_from(ip, sender, "h.example.org"), zone)
            result, _, explanation = spf.check(i=ip, s=sender, h="h.example.org")
            if "Void lookup" in explanation and ours.result is not SpfVerdict.PERMERROR:
                continue
            if "trivial recursion" in explanation:
                continue
            records = [data[n][0]["TXT"] for n in ("example.org", "i1.example.org", "i2.example.org")]
            assert str(ours.result) == PYSPF_NAMES.get(result, result), (ip, sender, records)
            if ours.result is SpfVerdict.FAIL and "may not send" in (ours.explanation or ""):
                assert ours.explanation == explanation
            compared += 1
    assert compared > 80
