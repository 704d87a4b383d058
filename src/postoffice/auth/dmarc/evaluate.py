"""DMARC evaluation (RFC 7489 6.6): policy discovery, identifier alignment, the disposition.

Theory of operation
-------------------
*Inputs.* The Author Domain (:mod:`postoffice.auth.dmarc.author`), the SPF result for the
envelope (:class:`SpfCheck`) and one :class:`DkimCheck` per DKIM signature. These two are
deliberately minimal (a result word and a domain) so that any SPF or DKIM verifier can feed them.

*Policy discovery* (RFC 7489 6.6.3): the TXT records at ``_dmarc.<author domain>``, keeping those
that start with ``v=DMARC1``; if none is left, the same at ``_dmarc.<organizational domain>``. No
record: ``none``. Several: ``none`` too (step 5: "DMARC processing is not applied"). A record that
does not parse: ``permerror``. A lookup that fails temporarily: ``temperror``. DMARCbis replaces
the Organizational Domain step with a walk up the tree (at most 8 labels, ``psd=`` tags); this is
RFC 7489's lookup.

*Alignment* (3.1): SPF aligns when it passed for a domain that equals (``aspf=s``) or shares the
Organizational Domain with (``aspf=r``) the Author Domain; DKIM when any passing signature's
``d=`` does (``adkim=``). Either one aligned is ``pass``, otherwise ``fail``.

*Policy* for a failing message: ``p=`` when the record is the Author Domain's own; for a
subdomain, ``np=`` (RFC 9091, DMARCbis) if it is set and the Author Domain does not exist (A, AAAA
and MX all NXDOMAIN or NODATA), else ``sp=``, else ``p=``. ``pct=`` then samples: a message not
selected gets the next weaker disposition (reject becomes quarantine, quarantine becomes none;
6.6.4). DMARCbis drops ``pct=`` for ``t=``; postoffice reads ``pct=``.

The result's :attr:`DmarcResult.disposition` is what the record asks for this message. Deciding
to follow it (local policy, ARC, forwarders) and what to do on ``temperror`` (defer) is the
caller's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.dmarc.record import (
    Alignment,
    DmarcRecord,
    DmarcRecordError,
    Policy,
    is_dmarc_record,
    parse_record,
)
from postoffice.auth.dns import DnsError, DnsQuery, Flow, RRType, lookup, lookup_all
from postoffice.auth.orgdomain import normalize_domain, organizational_domain
from postoffice.auth.results import MethodResult, Property

__all__ = [
    "DkimCheck",
    "DmarcResult",
    "DmarcStatus",
    "PolicyDiscovery",
    "SpfCheck",
    "aligned",
    "discover_policy",
    "evaluate",
]


class DmarcStatus(StrEnum):
    """The DMARC result (RFC 8601 2.7.x's ``dmarc=`` words)."""

    PASS = "pass"
    FAIL = "fail"
    NONE = "none"
    """No (single) DMARC record: DMARC does not apply."""
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
    """The record is unusable (syntax)."""


@dataclass(frozen=True, slots=True)
class SpfCheck:
    """What DMARC needs of the SPF result. A stand-in until the SPF verifier's own type exists:
    any result whose word is ``pass`` for ``domain`` counts."""

    result: str
    """The SPF result word: ``pass``, ``fail``, ``softfail``, ``neutral``, ``none``, ..."""
    domain: str
    """The domain SPF checked: the MAIL FROM domain, or the HELO name when MAIL FROM was null."""

    @classmethod
    def for_envelope(cls, result: str, mail_from: str, helo: str) -> SpfCheck:
        """The check for an envelope: ``mail_from`` is the reverse-path (``""`` when null)."""
        _, at, domain = mail_from.rpartition("@")
        return cls(result, domain if at and domain else helo)


@dataclass(frozen=True, slots=True)
class DkimCheck:
    """What DMARC needs of one DKIM signature's result (a stand-in, like :class:`SpfCheck`)."""

    result: str
    """The DKIM result word: ``pass``, ``fail``, ``neutral``, ``temperror``, ``permerror``..."""
    domain: str
    """The signature's ``d=`` domain."""


@dataclass(frozen=True, slots=True)
class PolicyDiscovery:
    """Where policy discovery ended: one record, or the status that stands for none."""

    record: DmarcRecord | None
    """The record found (None when :attr:`status` says why not)."""
    domain: str | None
    """The domain the record was published for (the Author or the Organizational Domain)."""
    status: DmarcStatus | None
    """None when a record was found; else ``none``, ``temperror`` or ``permerror``."""
    detail: str = ""
    """Why there is no record, for logs and Authentication-Results."""


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The outcome of DMARC for one message."""

    result: DmarcStatus
    """pass, fail, none, temperror or permerror."""
    from_domain: str
    """The Author Domain (normalised)."""
    disposition: Policy = Policy.NONE
    """What the record asks for this message (after ``pct=``); ``none`` unless it failed."""
    policy: Policy | None = None
    """The policy that applies to the Author Domain (``p=``, ``sp=`` or ``np=``), if a record."""
    policy_tag: str | None = None
    """Which tag :attr:`policy` came from: ``"p"``, ``"sp"`` or ``"np"``."""
    record: DmarcRecord | None = None
    """The record used."""
    policy_domain: str | None = None
    """The domain whose record was used."""
    sampled: bool = True
    """False when ``pct=`` left this failing message out and the disposition was weakened."""
    spf_aligned: bool = False
    """SPF passed for an aligned domain."""
    dkim_aligned: tuple[str, ...] = ()
    """The ``d=`` domains of passing, aligned DKIM signatures."""
    detail: str = ""
    """Why the result is what it is, when there is more to say (no record, syntax error...)."""

    def method_result(self) -> MethodResult:
        """The ``dmarc=`` entry for Authentication-Results (RFC 7489 11.2)."""
        comment = None
        if self.policy is not None:
            comment = f"{self.policy_tag}={self.policy} dis={self.disposition}"
        return MethodResult(
            "dmarc",
            str(self.result),
            reason=self.detail or None,
            comment=comment,
            properties=(Property("header", "from", self.from_domain),),
        )


def aligned(author_domain: str, domain: str, mode: Alignment) -> bool:
    """Identifier alignment (RFC 7489 3.1.1, 3.1.2) of an authenticated domain."""
    author_domain, domain = normalize_domain(author_domain), normalize_domain(domain)
    if not author_domain or not domain:
        return False
    if mode is Alignment.STRICT:
        return author_domain == domain
    return organizational_domain(author_domain) == organizational_domain(domain)


def discover_policy(author_domain: str) -> Flow[PolicyDiscovery]:
    """RFC 7489 6.6.3: the DMARC record for ``author_domain`` (its own, or its Organizational
    Domain's)."""
    domain = normalize_domain(author_domain)
    texts = yield from _dmarc_texts(domain)
    org = organizational_domain(domain)
    if texts == () and org != domain:
        domain = org
        texts = yield from _dmarc_texts(domain)
    if texts is None:
        return PolicyDiscovery(None, domain, DmarcStatus.TEMPERROR, f"_dmarc.{domain}: DNS failed")
    if not texts:
        return PolicyDiscovery(None, None, DmarcStatus.NONE, "no DMARC record")
    if len(texts) > 1:
        return PolicyDiscovery(None, domain, DmarcStatus.NONE, "several DMARC records")
    try:
        record = parse_record(texts[0])
    except DmarcRecordError as exc:
        return PolicyDiscovery(None, domain, DmarcStatus.PERMERROR, f"bad DMARC record: {exc}")
    return PolicyDiscovery(record, domain, None)


def evaluate(
    from_domain: str,
    spf: SpfCheck | None,
    dkim_results: Iterable[DkimCheck],
    *,
    sample: Callable[[], float] = random.random,
) -> Flow[DmarcResult]:
    """DMARC for a message whose Author Domain is ``from_domain``.

    ``spf`` is None when SPF was not checked; ``sample`` draws a number in [0, 1) for ``pct=``
    (tests inject their own)."""
    from_domain = normalize_domain(from_domain)
    if not from_domain:
        raise ValueError("no Author Domain: reject the message (FromProblem) instead")
    discovery = yield from discover_policy(from_domain)
    record, policy_domain = discovery.record, discovery.domain
    if record is None or policy_domain is None:
        status = discovery.status or DmarcStatus.NONE
        return DmarcResult(status, from_domain, policy_domain=policy_domain,
                           detail=discovery.detail)
    spf_aligned = (
        spf is not None
        and spf.result.lower() == "pass"
        and aligned(from_domain, spf.domain, record.aspf)
    )
    dkim_aligned = tuple(
        normalize_domain(d.domain)
        for d in dkim_results
        if d.result.lower() == "pass" and aligned(from_domain, d.domain, record.adkim)
    )
    tag, policy = "p", record.policy
    if policy_domain != from_domain:
        if record.nonexistent_policy is not None and not (yield from _exists(from_domain)):
            tag, policy = "np", record.nonexistent_policy
        elif record.subdomain_policy is not None:
            tag, policy = "sp", record.subdomain_policy
    passed = spf_aligned or bool(dkim_aligned)
    disposition, sampled = Policy.NONE, True
    if not passed and policy is not Policy.NONE:
        sampled = record.percent >= 100 or sample() * 100 < record.percent
        disposition = policy if sampled else _weaker(policy)
    return DmarcResult(
        DmarcStatus.PASS if passed else DmarcStatus.FAIL,
        from_domain,
        disposition=disposition,
        policy=policy,
        policy_tag=tag,
        record=record,
        policy_domain=policy_domain,
        sampled=sampled,
        spf_aligned=spf_aligned,
        dkim_aligned=dkim_aligned,
    )


def _dmarc_texts(domain: str) -> Flow[tuple[str, ...] | None]:
    """The DMARC records at ``_dmarc.<domain>``; None when the lookup failed temporarily."""
    answer = yield from lookup(f"_dmarc.{domain}", RRType.TXT)
    if answer.temporary:
        return None
    return tuple(text for text in answer.texts if is_dmarc_record(text))


def _exists(domain: str) -> Flow[bool]:
    """False when A, AAAA and MX all say NXDOMAIN or NODATA (RFC 9091 2.1's non-existent
    domain); a temporary failure counts as existing, so only a definite answer earns ``np=``."""
    answers = yield from lookup_all(DnsQuery(domain, t) for t in (RRType.A, RRType.AAAA, RRType.MX))
    return not all(a.error in (DnsError.NXDOMAIN, DnsError.NODATA) for a in answers)


def _weaker(policy: Policy) -> Policy:
    return Policy.QUARANTINE if policy is Policy.REJECT else Policy.NONE
