"""What an SPF check returns: the verdict, why, and the lookups it made."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.dns import DnsQuery, IPAddress

__all__ = ["SpfResult", "SpfVerdict", "TraceEntry", "default_explanation"]


class SpfVerdict(StrEnum):
    """The results of RFC 7208 section 2.6."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


QUALIFIERS = {
    "+": SpfVerdict.PASS,
    "-": SpfVerdict.FAIL,
    "~": SpfVerdict.SOFTFAIL,
    "?": SpfVerdict.NEUTRAL,
}


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step of a check: a DNS lookup and why, or a note without one (the term that
    matched; a target that is not a valid name)."""

    depth: int
    """0 for the checked domain's record, one more per include/redirect."""
    domain: str
    """The domain whose record was being evaluated."""
    term: str
    """Why: the term being evaluated, ``record`` (the TXT lookup), ``exp`` or ``%{p}``."""
    query: DnsQuery | None
    """The lookup made; None for a note."""
    outcome: str
    """What came back, in short (``192.0.2.1, 192.0.2.2``; ``nxdomain, void lookup 1 of 2``)."""

    def __str__(self) -> str:
        asked = f"{self.query} -> " if self.query is not None else ""
        return f"{'  ' * self.depth}{self.domain}: {self.term}: {asked}{self.outcome}"


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The result of one SPF check (RFC 7208 ``check_host()``)."""

    result: SpfVerdict
    """pass, fail, softfail, neutral, none, temperror or permerror."""
    domain: str
    """The domain whose policy was checked (the MAIL FROM domain or the HELO name)."""
    ip: IPAddress
    """The client address as evaluated (an IPv4-mapped IPv6 address is made IPv4)."""
    sender: str
    """<sender> as evaluated: local-part@domain, ``postmaster`` for a missing local part."""
    helo: str | None = None
    """The HELO/EHLO name, when known."""
    identity: str = "mailfrom"
    """Which identity was checked: ``mailfrom`` or ``helo`` (RFC 7208 2.3, 2.4)."""
    receiver: str = "unknown"
    """The host that did the check (the ``r`` macro, Received-SPF ``receiver=``)."""
    mechanism: str | None = None
    """The term that decided, as written (``-all``, ``include:_spf.example.org``); None when
    no mechanism matched (the default neutral) or no record was evaluated to the end."""
    record_domain: str | None = None
    """The domain whose record decided (differs from :attr:`domain` after ``redirect=``)."""
    explanation: str | None = None
    """For ``fail``: the ``exp=`` text, or :func:`default_explanation` when the record has no
    usable one. None for other results."""
    problem: str | None = None
    """What went wrong, for none, temperror and permerror."""
    lookups: int = 0
    """DNS-querying terms evaluated (at most 10, RFC 7208 4.6.4)."""
    void_lookups: int = 0
    """Lookups that found nothing (at most 2)."""
    trace: tuple[TraceEntry, ...] = ()
    """The lookups made, in order, and why."""


def default_explanation(domain: str, ip: IPAddress) -> str:
    """The explanation of a ``fail`` when the record gives none (RFC 7208 6.2)."""
    return f"{domain} does not designate {ip} as a permitted sender"
