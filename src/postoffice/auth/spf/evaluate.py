"""``check_host()`` of RFC 7208 as a DNS flow (see :mod:`postoffice.auth.dns`).

Theory of operation
-------------------
:func:`check_host` checks the domain (4.3), fetches and selects its record (4.4, 4.5), parses it
whole (4.6), then evaluates the mechanisms left to right; the first match gives the result by
its qualifier. Without a match, ``redirect=`` hands over to the target's record, else the result
is neutral. ``include:`` runs the same evaluation on its target: pass matches; fail, softfail
and neutral do not; temperror and permerror stop everything; none is a permerror.

Errors travel as exceptions inside the flow (:class:`_PermError`, :class:`_TempError`) and become
the result at the top. Limits, per check (4.6.4):

* at most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect), counted when evaluated;
* at most 2 void lookups (NXDOMAIN or no records) among those terms' own lookups: the address
  lookups of a, mx's MX lookup, ptr's PTR lookup, exists. The address lookups of MX hosts and
  of PTR names are not counted: those names come from other DNS data, and an IPv6 client would
  otherwise spend the limit on every IPv4-only MX set;
* an MX answer with more than 10 records is a permerror; only the first 10 PTR names are used.

An MX host whose address lookup fails temporarily makes the mechanism a temperror unless
another host matched. ``exp=`` is looked up only for a fail, and neither it nor ``%{p}``
counts against the limits; any problem with it gives the default explanation (6.2).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.auth.dns import (
    DnsAnswer,
    DnsError,
    DnsQuery,
    Flow,
    IPAddress,
    RRType,
    TxtRecord,
    lookup,
    lookup_all,
)
from postoffice.auth.spf.macros import (
    EXPLANATION_LETTERS,
    MacroContext,
    MacroString,
    SpfSyntaxError,
    expand,
    parse_macro_string,
)
from postoffice.auth.spf.names import ascii_domain, checkable_domain, target_name
from postoffice.auth.spf.record import (
    Mechanism,
    MechanismKind,
    SpfRecord,
    parse_record,
    select_record,
)
from postoffice.auth.spf.result import (
    QUALIFIERS,
    SpfResult,
    SpfVerdict,
    TraceEntry,
    default_explanation,
)

__all__ = [
    "MAX_DNS_TERMS",
    "MAX_MX_RECORDS",
    "MAX_PTR_NAMES",
    "MAX_VOID_LOOKUPS",
    "check_helo",
    "check_host",
    "check_mail_from",
]

MAX_DNS_TERMS = 10
MAX_VOID_LOOKUPS = 2
MAX_MX_RECORDS = 10
MAX_PTR_NAMES = 10

_VOID = (DnsError.NXDOMAIN, DnsError.NODATA)


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Decision:
    """How a record (with its redirects) decided."""

    verdict: SpfVerdict
    mechanism: str | None
    domain: str
    """The record that decided (after redirects)."""
    exp: MacroString | None
    """That record's exp= (used for a fail)."""


def check_host(
    ip: IPAddress | str,
    domain: str,
    sender: str,
    *,
    helo: str | None = None,
    receiver: str = "unknown",
    now: float = 0.0,
    identity: str = "mailfrom",
) -> Flow[SpfResult]:
    """RFC 7208 ``check_host(ip, domain, sender)``.

    ``ip`` is the SMTP client's address; ``domain`` the domain to check (the MAIL FROM domain, or
    the HELO name); ``sender`` the MAIL FROM address (``postmaster@<helo>`` for the HELO
    identity). ``helo``, ``receiver`` and ``now`` (seconds since the epoch) feed the ``h``,
    ``r`` and ``t`` macros; ``identity`` is recorded in the result. Domains are checked in
    their ASCII (A-label) form. Raises ValueError for an ``ip`` that is not an IP address."""
    client = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    local, at, sender_domain = sender.rpartition("@")
    if not at:
        sender_domain = sender or domain
    sender = f"{local or 'postmaster'}@{ascii_domain(sender_domain) or sender_domain}"
    checked = ascii_domain(domain)
    ctx = MacroContext(sender, checked or domain, client, helo or "unknown", receiver, now)
    check = _Check(ctx)

    def result(
        verdict: SpfVerdict,
        mechanism: str | None = None,
        record_domain: str | None = None,
        explanation: str | None = None,
        problem: str | None = None,
    ) -> SpfResult:
        return SpfResult(
            verdict, ctx.domain, client, sender, helo, identity, receiver, mechanism,
            record_domain, explanation, problem, check.terms, check.voids, tuple(check.trace),
        )

    problem = checkable_domain(checked) if checked is not None else f"{domain!r} is not ASCII"
    if problem is not None:
        return result(SpfVerdict.NONE, problem=problem)
    try:
        decision = yield from check.evaluate(ctx, 0)
    except _PermError as error:
        return result(SpfVerdict.PERMERROR, problem=str(error))
    except _TempError as error:
        return result(SpfVerdict.TEMPERROR, problem=str(error))
    if decision is None:
        return result(SpfVerdict.NONE, problem=f"no SPF record at {ctx.domain}")
    explanation = None
    if decision.verdict is SpfVerdict.FAIL:
        explanation = yield from check.explain(decision)
    return result(
        decision.verdict,
        mechanism=decision.mechanism,
        record_domain=decision.domain,
        explanation=explanation,
    )


def check_mail_from(
    ip: IPAddress | str,
    mail_from: str,
    helo: str | None,
    *,
    receiver: str = "unknown",
    now: float = 0.0,
) -> Flow[SpfResult]:
    """Check the MAIL FROM identity (RFC 7208 2.4); for the null reverse-path (``""`` or
    ``"<>"``) the HELO identity is checked instead, as the RFC says."""
    if mail_from in ("", "<>"):
        if helo is None:
            raise ValueError("a null reverse-path needs the HELO name to check")
        return (yield from check_helo(ip, helo, receiver=receiver, now=now))
    domain = mail_from.rpartition("@")[2]
    return (
        yield from check_host(ip, domain, mail_from, helo=helo, receiver=receiver, now=now)
    )


def check_helo(
    ip: IPAddress | str, helo: str, *, receiver: str = "unknown", now: float = 0.0
) -> Flow[SpfResult]:
    """Check the HELO identity (RFC 7208 2.3): ``check_host(ip, helo, "postmaster@" + helo)``."""
    return (
        yield from check_host(
            ip, helo, f"postmaster@{helo}", helo=helo, receiver=receiver, now=now,
            identity="helo",
        )
    )


class _Check:
    """The state of one check: counters and trace, shared by includes and redirects."""

    def __init__(self, ctx: MacroContext) -> None:
        self.ctx = ctx
        self.ipv4 = isinstance(ctx.ip, ipaddress.IPv4Address)
        self.client = int(ctx.ip)
        self.terms = 0
        self.voids = 0
        self.trace: list[TraceEntry] = []
        self.validated: tuple[str, ...] | None = None

    # ------------------------------------------------------------------ DNS and accounting

    def ask(
        self, ctx: MacroContext, depth: int, term: str, name: str, rdtype: RRType,
        *, void: bool = False,
    ) -> Flow[DnsAnswer]:
        answer = yield from lookup(name, rdtype)
        outcome = _summary(answer)
        if void and answer.error in _VOID:
            self.voids += 1
            outcome += f", void lookup {self.voids} of {MAX_VOID_LOOKUPS}"
        self.trace.append(TraceEntry(depth, ctx.domain, term, answer.query, outcome))
        if self.voids > MAX_VOID_LOOKUPS:
            raise _PermError(f"more than {MAX_VOID_LOOKUPS} void lookups (at {term})")
        return answer

    def ask_all(
        self, ctx: MacroContext, depth: int, term: str, queries: Sequence[DnsQuery]
    ) -> Flow[tuple[DnsAnswer, ...]]:
        answers = yield from lookup_all(queries)
        for answer in answers:
            self.trace.append(
                TraceEntry(depth, ctx.domain, term, answer.query, _summary(answer))
            )
        return answers

    def note(self, ctx: MacroContext, depth: int, term: str, outcome: str) -> None:
        self.trace.append(TraceEntry(depth, ctx.domain, term, None, outcome))

    def count(self, term: str, domain: str) -> None:
        self.terms += 1
        if self.terms > MAX_DNS_TERMS:
            raise _PermError(
                f"more than {MAX_DNS_TERMS} DNS-querying terms (at {term} in {domain})"
            )

    def target(
        self, ctx: MacroContext, depth: int, term: str, spec: MacroString | None
    ) -> Flow[str | None]:
        """The name a term's domain spec expands to; None (traced) when it is not valid."""
        if spec is None:
            return ctx.domain
        ptr = "unknown"
        if "p" in spec.letters:
            ptr = yield from self.ptr_macro(ctx, depth)
        expanded = expand(spec, ctx, ptr)
        name = target_name(expanded)
        if name is None:
            self.note(ctx, depth, term, f"{expanded!r} is not a valid name: no lookup")
        return name

    # ------------------------------------------------------------------ records

    def record(self, ctx: MacroContext, depth: int) -> Flow[SpfRecord | None]:
        answer = yield from self.ask(ctx, depth, "record", ctx.domain, RRType.TXT)
        if answer.temporary:
            raise _TempError(f"TXT lookup of {ctx.domain}: {answer.error}")
        if not answer.ok:
            return None
        try:
            data = select_record(r.data for r in answer.records if isinstance(r, TxtRecord))
            if data is None:
                return None
            return parse_record(data.decode("ascii"))
        except UnicodeDecodeError:
            raise _PermError(f"the SPF record of {ctx.domain} is not ASCII") from None
        except SpfSyntaxError as error:
            raise _PermError(f"{ctx.domain}: {error}") from None

    def evaluate(self, ctx: MacroContext, depth: int) -> Flow[_Decision | None]:
        """The decision of ``ctx.domain``'s record; None when it has none."""
        record = yield from self.record(ctx, depth)
        if record is None:
            return None
        for mechanism in record.mechanisms:
            if (yield from self.matches(mechanism, ctx, depth)):
                verdict = QUALIFIERS[mechanism.qualifier]
                self.note(ctx, depth, mechanism.text, f"matches: {verdict}")
                return _Decision(verdict, mechanism.text, ctx.domain, record.exp)
        if record.redirect is None:
            self.note(ctx, depth, "default", "no mechanism matches: neutral")
            return _Decision(SpfVerdict.NEUTRAL, None, ctx.domain, None)
        term = f"redirect={record.redirect.text}"
        self.count(term, ctx.domain)
        target = yield from self.target(ctx, depth, term, record.redirect)
        if target is None or checkable_domain(target) is not None:
            raise _PermError(f"{term} in {ctx.domain}: not a valid domain")
        decision = yield from self.evaluate(ctx.at(target), depth + 1)
        if decision is None:
            raise _PermError(f"{term} in {ctx.domain}: no SPF record at {target}")
        return decision

    # ------------------------------------------------------------------ mechanisms

    def matches(self, mechanism: Mechanism, ctx: MacroContext, depth: int) -> Flow[bool]:
        kind = mechanism.kind
        if kind is MechanismKind.ALL:
            return True
        if kind is MechanismKind.IP4 or kind is MechanismKind.IP6:
            if self.ipv4 != (kind is MechanismKind.IP4):
                return False
            prefix = mechanism.cidr4 if self.ipv4 else mechanism.cidr6
            return self.within(mechanism.network, prefix)
        term = mechanism.text
        self.count(term, ctx.domain)
        target = yield from self.target(ctx, depth, term, mechanism.domain_spec)
        if kind is MechanismKind.INCLUDE:
            if target is None or checkable_domain(target) is not None:
                raise _PermError(f"{term} in {ctx.domain}: not a valid domain")
            decision = yield from self.evaluate(ctx.at(target), depth + 1)
            if decision is None:
                raise _PermError(f"{term} in {ctx.domain}: no SPF record at {target}")
            if decision.verdict is not SpfVerdict.PASS:
                self.note(ctx, depth, term, f"{target} gives {decision.verdict}: no match")
            return decision.verdict is SpfVerdict.PASS
        if target is None:
            return False
        if kind is MechanismKind.EXISTS:
            answer = yield from self.ask(ctx, depth, term, target, RRType.A, void=True)
            if answer.temporary:
                raise _TempError(f"{term}: A lookup of {target}: {answer.error}")
            return answer.ok
        if kind is MechanismKind.A:
            answer = yield from self.ask(ctx, depth, term, target, self.rdtype, void=True)
            if answer.temporary:
                raise _TempError(f"{term}: {self.rdtype} lookup of {target}: {answer.error}")
            return self.any_within(answer, mechanism)
        if kind is MechanismKind.MX:
            return (yield from self.mx(mechanism, ctx, depth, target))
        names = yield from self.ptr_names(ctx, depth, term, void=True)
        target = target.lower()
        wanted = [n for n in names if n == target or n.endswith("." + target)]
        return bool((yield from self.validate(ctx, depth, term, wanted)))

    @property
    def rdtype(self) -> RRType:
        return RRType.A if self.ipv4 else RRType.AAAA

    def within(self, network: int, prefix: int) -> bool:
        shift = (32 if self.ipv4 else 128) - prefix
        return (network ^ self.client) >> shift == 0

    def any_within(self, answer: DnsAnswer, mechanism: Mechanism) -> bool:
        prefix = mechanism.cidr4 if self.ipv4 else mechanism.cidr6
        return any(self.within(int(address), prefix) for address in answer.addresses)

    def mx(self, mechanism: Mechanism, ctx: MacroContext, depth: int, target: str) -> Flow[bool]:
        term = mechanism.text
        answer = yield from self.ask(ctx, depth, term, target, RRType.MX, void=True)
        if answer.temporary:
            raise _TempError(f"{term}: MX lookup of {target}: {answer.error}")
        if not answer.ok:
            return False
        if len(answer.records) > MAX_MX_RECORDS:
            raise _PermError(f"{term}: {target} has more than {MAX_MX_RECORDS} MX records")
        hosts = dict.fromkeys(
            mx.exchange for mx in sorted(answer.mx, key=lambda m: m.preference) if not mx.is_null
        )
        queries = [DnsQuery(host, self.rdtype) for host in hosts]
        answers = yield from self.ask_all(ctx, depth, f"{term} (MX host)", queries)
        if any(self.any_within(a, mechanism) for a in answers):
            return True
        failed = [a for a in answers if a.temporary]
        if failed:
            raise _TempError(f"{term}: lookup of MX host {failed[0].query}: {failed[0].error}")
        return False

    # ------------------------------------------------------------------ PTR names

    def ptr_names(
        self, ctx: MacroContext, depth: int, term: str, *, void: bool
    ) -> Flow[list[str]]:
        """The client's PTR names (the first 10); none on any error (5.5)."""
        answer = yield from self.ask(ctx, depth, term, self.ctx.ip.reverse_pointer, RRType.PTR,
                                     void=void)
        return list(answer.targets[:MAX_PTR_NAMES])

    def validate(
        self, ctx: MacroContext, depth: int, term: str, names: list[str]
    ) -> Flow[list[str]]:
        """The names among ``names`` that have the client's address (lookup errors: skipped)."""
        queries = [DnsQuery(name, self.rdtype) for name in names]
        answers = yield from self.ask_all(ctx, depth, f"{term} (validate)", queries)
        return [
            name for name, answer in zip(names, answers, strict=True)
            if any(int(a) == self.client for a in answer.addresses)
        ]

    def ptr_macro(self, ctx: MacroContext, depth: int) -> Flow[str]:
        """The ``p`` value: the validated name equal to, else under, the current domain, else
        any validated name, else ``unknown`` (7.3). Not counted against the limits."""
        if self.validated is None:
            names = yield from self.ptr_names(ctx, depth, "%{p}", void=False)
            self.validated = tuple((yield from self.validate(ctx, depth, "%{p}", names)))
        domain = ctx.domain.lower()
        for name in self.validated:
            if name == domain:
                return name
        for name in self.validated:
            if name.endswith("." + domain):
                return name
        return self.validated[0] if self.validated else "unknown"

    # ------------------------------------------------------------------ explanation

    def explain(self, decision: _Decision) -> Flow[str]:
        """The explanation of a fail: the ``exp=`` text of the deciding record, or the default."""
        default = default_explanation(self.ctx.domain, self.ctx.ip)
        if decision.exp is None:
            return default
        ctx = self.ctx.at(decision.domain)
        term = f"exp={decision.exp.text}"
        name = yield from self.target(ctx, 0, term, decision.exp)
        if name is None:
            return default
        answer = yield from self.ask(ctx, 0, term, name, RRType.TXT)
        if not answer.ok or len(answer.records) != 1:
            return default
        try:
            record = answer.records[0]
            assert isinstance(record, TxtRecord)
            text = record.data.decode("ascii")
            string = parse_macro_string(text, EXPLANATION_LETTERS, spaces=True)
        except (UnicodeDecodeError, SpfSyntaxError):
            return default
        ptr = "unknown"
        if "p" in string.letters:
            ptr = yield from self.ptr_macro(ctx, 0)
        return expand(string, ctx, ptr)


def _summary(answer: DnsAnswer) -> str:
    if answer.error is not None:
        return str(answer.error)
    if answer.query.rdtype is RRType.TXT:
        return "; ".join(repr(t) for t in answer.texts)
    if answer.query.rdtype is RRType.MX:
        return ", ".join(f"{m.preference} {m.exchange}" for m in answer.mx)
    if answer.query.rdtype is RRType.PTR:
        return ", ".join(answer.targets)
    return ", ".join(str(a) for a in answer.addresses)
