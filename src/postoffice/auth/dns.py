"""DNS questions and answers, shared by every part of postoffice that looks something up.

Theory of operation
-------------------
Code that needs DNS (SPF, DKIM, DMARC, ARC, BIMI evaluators; the MTA's route finder) is written
as a *flow*: a generator that yields what it wants to know and receives the answer::

    def dmarc_record(domain: str) -> Flow[str | None]:
        answer = yield from lookup(f"_dmarc.{domain}", RRType.TXT)
        ...
        return text

A flow yields either one :class:`DnsQuery` (and is sent one :class:`DnsAnswer`) or a tuple of
queries (and is sent a tuple of answers, in the same order), so that independent lookups (A and
AAAA of several MX hosts) can run concurrently. :func:`lookup` and :func:`lookup_all` wrap the two
forms with precise types; evaluators should ``yield from`` them rather than yield by hand.

Two drivers run a flow to its result:

* :func:`run_sync` (here) answers from a :class:`Zone`: a plain dict of names and records, for
  tests and for ``--dns-zone`` files. No I/O.
* ``postoffice.mta.dns.run_async(flow, resolver)`` answers with the shared caching resolver
  (dnspython), in production.

DNS failures are answers, not exceptions: every :class:`DnsAnswer` either has records or an
:class:`DnsError` (NXDOMAIN, NODATA, SERVFAIL, TIMEOUT). CNAMEs never appear in answers: the
resolver follows them and reports the name it ended on as :attr:`DnsAnswer.canonical_name`.

Names are compared in a normal form (:func:`normalize_name`): lower case, without the final dot;
the root is ``"."``.

Zone data
---------
:meth:`Zone.from_data` reads the shape of the RFC 7208 test suite's ``zonedata``: a mapping from
name to a list of entries, each a one-key mapping ``{TYPE: value}``::

    {
        "example.org": [
            {"MX": [10, "mx1.example.org"]},
            {"TXT": "v=spf1 -all"},             # or a list of strings: one record, many strings
            {"A": "192.0.2.1", "TTL": 60},      # optional per-record TTL (default 300)
        ],
        "mx1.example.org": [{"AAAA": "2001:db8::1"}],
        "www.example.org": [{"CNAME": "example.org"}],
        "slow.example.org": ["TIMEOUT"],        # queries of types it has no records for time out
        "broken.example.org": ["SERVFAIL"],     # ... or fail with SERVFAIL
    }

Types: ``A``, ``AAAA``, ``MX``, ``TXT``, ``PTR``, ``CNAME``. A TXT value given as ``str`` is
encoded as UTF-8, ``bytes`` are taken as they are. Names absent from the data (and without names
below them) are NXDOMAIN; names present without records of the asked type are NODATA. The RFC 7208
suite's own conventions (its ``SPF`` type, ``TXT: NONE``) are mapped by ``auth/zonedata.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias, TypeVar

__all__ = [
    "DEFAULT_TTL",
    "DnsAnswer",
    "DnsError",
    "DnsQuery",
    "DnsRecord",
    "Flow",
    "IPAddress",
    "MAX_CNAME_CHAIN",
    "MxRecord",
    "PtrRecord",
    "RRType",
    "TxtRecord",
    "Zone",
    "ZoneData",
    "lookup",
    "lookup_all",
    "normalize_name",
    "parse_record",
    "run_sync",
]

T = TypeVar("T")

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TTL = 300
"""TTL of zone records that do not give one."""

MAX_CNAME_CHAIN = 16
"""Longest CNAME chain followed before the answer is SERVFAIL (as a recursive resolver would)."""


def normalize_name(name: str) -> str:
    """The normal form of a domain name: lower case, no final dot; the root is ``"."``."""
    name = name.strip().lower()
    if name in {"", "."}:
        return "."
    return name[:-1] if name.endswith(".") else name


class RRType(StrEnum):
    """The record types postoffice asks for (CNAMEs are followed by the resolver, never asked)."""

    A = "A"
    AAAA = "AAAA"
    MX = "MX"
    TXT = "TXT"
    PTR = "PTR"


class DnsError(StrEnum):
    """Why an answer has no records."""

    NXDOMAIN = "nxdomain"
    """The name does not exist (RCODE 3): definitive."""
    NODATA = "nodata"
    """The name exists but has no records of the asked type: definitive."""
    SERVFAIL = "servfail"
    """The servers failed or refused to answer: temporary, try again later."""
    TIMEOUT = "timeout"
    """No server answered in time: temporary, try again later."""

    @property
    def temporary(self) -> bool:
        """True for SERVFAIL and TIMEOUT: retry later, never treat as a definitive "no"."""
        return self in (DnsError.SERVFAIL, DnsError.TIMEOUT)


@dataclass(frozen=True, slots=True)
class DnsQuery:
    """One question: a name and a record type. The name is kept in normal form."""

    name: str
    """The domain name asked about (normal form: lower case, no final dot)."""
    rdtype: RRType
    """The record type asked for."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normalize_name(self.name))
        object.__setattr__(self, "rdtype", RRType(self.rdtype))

    def __str__(self) -> str:
        return f"{self.name} {self.rdtype}"


@dataclass(frozen=True, slots=True)
class MxRecord:
    """An MX record (RFC 5321 5.1). A null MX (RFC 7505) has the exchange ``"."``."""

    preference: int
    """Lower is tried first."""
    exchange: str
    """The mail exchanger's host name (normal form); ``"."`` for a null MX."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "exchange", normalize_name(self.exchange))

    @property
    def is_null(self) -> bool:
        """True for the exchange ``"."``: "this domain accepts no mail" (RFC 7505)."""
        return self.exchange == "."


@dataclass(frozen=True, slots=True)
class TxtRecord:
    """A TXT record: one or more character-strings, kept as the bytes that were published."""

    strings: tuple[bytes, ...]
    """The record's character-strings, in order."""

    @property
    def data(self) -> bytes:
        """The strings joined without separators (how SPF, DKIM and DMARC read a record)."""
        return b"".join(self.strings)

    @property
    def text(self) -> str:
        """:attr:`data` decoded as UTF-8, with undecodable bytes replaced by U+FFFD."""
        return self.data.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class PtrRecord:
    """A PTR record: the host name an address maps back to."""

    target: str
    """The host name (normal form)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", normalize_name(self.target))


DnsRecord: TypeAlias = (
    MxRecord | TxtRecord | PtrRecord | ipaddress.IPv4Address | ipaddress.IPv6Address
)
"""A record in an answer: A and AAAA records are plain :mod:`ipaddress` addresses."""

_RECORD_TYPES: dict[RRType, tuple[type, ...]] = {
    RRType.A: (ipaddress.IPv4Address,),
    RRType.AAAA: (ipaddress.IPv6Address,),
    RRType.MX: (MxRecord,),
    RRType.TXT: (TxtRecord,),
    RRType.PTR: (PtrRecord,),
}


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """The answer to one :class:`DnsQuery`: records, or the error that stands for them."""

    query: DnsQuery
    """The question this answers."""
    records: tuple[DnsRecord, ...] = ()
    """The records (never empty when :attr:`error` is None), all of the asked type."""
    ttl: int = 0
    """Seconds the answer may be reused: the records' TTL, or for NXDOMAIN/NODATA the negative TTL
    (RFC 2308). From a cache, the time left."""
    error: DnsError | None = None
    """Why there are no records; None when there are."""
    canonical_name: str | None = None
    """The name the answer belongs to after following CNAMEs (None: the query's own name)."""
    detail: str = field(default="", compare=False)
    """Human-readable detail for logs and diagnostics (which server failed, how)."""

    def __post_init__(self) -> None:
        if self.error is None and not self.records:
            raise ValueError("an answer without records needs an error (use NODATA)")
        if self.error is not None and self.records:
            raise ValueError("an answer with an error has no records")
        wanted = _RECORD_TYPES[self.query.rdtype]
        for record in self.records:
            if not isinstance(record, wanted):
                raise TypeError(f"{record!r} in an answer to {self.query}")
        if self.ttl < 0:
            raise ValueError("negative TTL")
        if self.canonical_name is not None:
            object.__setattr__(self, "canonical_name", normalize_name(self.canonical_name))

    @classmethod
    def failure(
        cls, query: DnsQuery, error: DnsError, *, ttl: int = 0, detail: str = ""
    ) -> DnsAnswer:
        """An answer without records."""
        return cls(query, (), ttl, error, detail=detail)

    @property
    def ok(self) -> bool:
        """True when there are records."""
        return self.error is None

    @property
    def temporary(self) -> bool:
        """True for SERVFAIL and TIMEOUT: the lookup should be retried later."""
        return self.error is not None and self.error.temporary

    @property
    def name(self) -> str:
        """The name the records belong to (after CNAMEs)."""
        return self.canonical_name or self.query.name

    @property
    def mx(self) -> tuple[MxRecord, ...]:
        """The MX records of the answer."""
        return tuple(r for r in self.records if isinstance(r, MxRecord))

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        """The addresses of an A or AAAA answer."""
        return tuple(
            r for r in self.records if isinstance(r, ipaddress.IPv4Address | ipaddress.IPv6Address)
        )

    @property
    def texts(self) -> tuple[str, ...]:
        """The TXT records, each joined and decoded (:attr:`TxtRecord.text`)."""
        return tuple(r.text for r in self.records if isinstance(r, TxtRecord))

    @property
    def targets(self) -> tuple[str, ...]:
        """The host names of a PTR answer."""
        return tuple(r.target for r in self.records if isinstance(r, PtrRecord))

    def with_ttl(self, ttl: int) -> DnsAnswer:
        """The same answer with another TTL (a cache hands out the time left)."""
        return DnsAnswer(
            self.query, self.records, ttl, self.error, self.canonical_name, self.detail
        )


# --------------------------------------------------------------------------- flows

DnsRequest: TypeAlias = DnsQuery | tuple[DnsQuery, ...]
DnsReply: TypeAlias = DnsAnswer | tuple[DnsAnswer, ...]
Flow: TypeAlias = Generator[DnsRequest, DnsReply, T]
"""A DNS-asking computation returning ``T``: yields a query (or a tuple of them), receives the
answer (or the tuple of answers)."""


def lookup(name: str, rdtype: RRType) -> Flow[DnsAnswer]:
    """Ask one question: ``answer = yield from lookup(name, RRType.TXT)``."""
    query = DnsQuery(name, rdtype)
    reply = yield query
    if not isinstance(reply, DnsAnswer) or reply.query != query:
        raise TypeError(f"driver answered {reply!r} to {query}")
    return reply


def lookup_all(queries: Iterable[DnsQuery]) -> Flow[tuple[DnsAnswer, ...]]:
    """Ask several questions at once (answered concurrently by ``run_async``), answers in order."""
    batch = tuple(queries)
    if not batch:
        return ()
    reply = yield batch
    if not isinstance(reply, tuple) or tuple(a.query for a in reply) != batch:
        raise TypeError(f"driver answered {reply!r} to {batch}")
    return reply


def run_sync(flow: Flow[T], zone: Zone | ZoneData) -> T:
    """Run ``flow`` to its result, answering every query from ``zone`` (a :class:`Zone` or data
    for :meth:`Zone.from_data`). Exceptions raised by the flow propagate."""
    if not isinstance(zone, Zone):
        zone = Zone.from_data(zone)
    reply: DnsReply | None = None
    try:
        while True:
            request = flow.send(reply) if reply is not None else next(flow)
            if isinstance(request, DnsQuery):
                reply = zone.answer(request)
            else:
                reply = tuple(zone.answer(q) for q in request)
    except StopIteration as stop:
        result: T = stop.value
        return result


# --------------------------------------------------------------------------- zone data

ZoneData: TypeAlias = Mapping[str, Sequence[Mapping[str, object] | str]]
"""Zone data in the RFC 7208 suite's ``zonedata`` shape (see the module docstring)."""

_MARKERS = {"TIMEOUT": DnsError.TIMEOUT, "SERVFAIL": DnsError.SERVFAIL}


@dataclass(slots=True)
class _Node:
    """What the zone data says about one name (built by :meth:`Zone.from_data`)."""

    records: dict[RRType, list[tuple[DnsRecord, int]]] = field(default_factory=dict)
    cname: tuple[str, int] | None = None
    failure: DnsError | None = None


class Zone:
    """Names and records in memory, answering like a recursive resolver would (CNAMEs followed)."""

    def __init__(self, nodes: Mapping[str, _Node]) -> None:
        self._nodes = dict(nodes)
        self._existing: set[str] = set()
        for name in self._nodes:
            labels = name.split(".")
            self._existing.update(".".join(labels[i:]) for i in range(len(labels)))

    @classmethod
    def from_data(cls, data: ZoneData) -> Zone:
        """Read zone data (see the module docstring); raises ValueError on anything unknown."""
        nodes: dict[str, _Node] = {}
        for raw_name, entries in data.items():
            name = normalize_name(raw_name)
            node = nodes.setdefault(name, _Node())
            if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
                raise ValueError(f"{raw_name}: expected a list of records")
            for entry in entries:
                if isinstance(entry, str):
                    if entry.upper() not in _MARKERS:
                        raise ValueError(f"{raw_name}: unknown marker {entry!r}")
                    node.failure = _MARKERS[entry.upper()]
                elif isinstance(entry, Mapping):
                    _add_entry(node, raw_name, entry)
                else:
                    raise ValueError(f"{raw_name}: bad entry {entry!r}")
        return cls(nodes)

    def answer(self, query: DnsQuery) -> DnsAnswer:
        """The answer to ``query``."""
        name = query.name
        seen: list[str] = []
        ttl = 2**31 - 1
        while True:
            node = self._nodes.get(name)
            if node is not None and node.cname is not None:
                if name in seen or len(seen) >= MAX_CNAME_CHAIN:
                    return DnsAnswer.failure(
                        query, DnsError.SERVFAIL, detail=f"CNAME loop at {name}"
                    )
                seen.append(name)
                name, cname_ttl = node.cname
                ttl = min(ttl, cname_ttl)
                continue
            canonical = name if seen else None
            if node is None:
                if name in self._existing:
                    return DnsAnswer(query, (), min(ttl, DEFAULT_TTL), DnsError.NODATA, canonical)
                return DnsAnswer(query, (), min(ttl, DEFAULT_TTL), DnsError.NXDOMAIN, canonical)
            found = node.records.get(query.rdtype, [])
            if found:
                ttl = min([ttl] + [t for _, t in found])
                return DnsAnswer(query, tuple(r for r, _ in found), ttl, None, canonical)
            if node.failure is not None:
                return DnsAnswer(query, (), 0, node.failure, canonical, detail="zone data")
            return DnsAnswer(query, (), min(ttl, DEFAULT_TTL), DnsError.NODATA, canonical)

    def names(self) -> tuple[str, ...]:
        """The names that have entries."""
        return tuple(self._nodes)


def _add_entry(node: _Node, raw_name: str, entry: Mapping[str, object]) -> None:
    ttl_value = entry.get("TTL", entry.get("ttl", DEFAULT_TTL))
    if not isinstance(ttl_value, int) or ttl_value < 0:
        raise ValueError(f"{raw_name}: bad TTL {ttl_value!r}")
    kinds = [k for k in entry if k.upper() != "TTL"]
    if len(kinds) != 1:
        raise ValueError(f"{raw_name}: each entry has exactly one record type, got {list(entry)}")
    kind, value = kinds[0].upper(), entry[kinds[0]]
    if kind == "CNAME":
        if not isinstance(value, str):
            raise ValueError(f"{raw_name}: CNAME needs a name")
        if node.records:
            raise ValueError(f"{raw_name}: a CNAME cannot have other records")
        node.cname = (normalize_name(value), ttl_value)
        return
    if node.cname is not None:
        raise ValueError(f"{raw_name}: a CNAME cannot have other records")
    try:
        rdtype = RRType(kind)
    except ValueError:
        raise ValueError(f"{raw_name}: unsupported record type {kind!r}") from None
    record = parse_record(raw_name, rdtype, value)
    node.records.setdefault(rdtype, []).append((record, ttl_value))


def parse_record(raw_name: str, rdtype: RRType, value: object) -> DnsRecord:
    """One record of zone data (``value`` as in the module docstring); ValueError if malformed."""
    try:
        if rdtype is RRType.A and isinstance(value, str):
            return ipaddress.IPv4Address(value)
        if rdtype is RRType.AAAA and isinstance(value, str):
            return ipaddress.IPv6Address(value)
    except ValueError:
        raise ValueError(f"{raw_name}: bad {rdtype} address {value!r}") from None
    if rdtype is RRType.MX and isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str):
            return MxRecord(value[0], value[1])
    if rdtype is RRType.TXT:
        parts = [value] if isinstance(value, str | bytes) else value
        if isinstance(parts, Sequence) and all(isinstance(p, str | bytes) for p in parts):
            return TxtRecord(tuple(p.encode() if isinstance(p, str) else p for p in parts))
    if rdtype is RRType.PTR and isinstance(value, str):
        return PtrRecord(value)
    raise ValueError(f"{raw_name}: bad {rdtype} value {value!r}")
