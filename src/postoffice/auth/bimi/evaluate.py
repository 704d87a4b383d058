"""BIMI for one message (draft-brand-indicators-for-message-identification 7.1-7.2).

1. DMARC must have passed, under a policy at enforcement (:func:`dmarc_at_enforcement`): the
   record used, and the Organizational Domain's own record when the Author Domain has its own.
2. Discovery: the TXT records at ``<selector>._bimi.<author domain>`` that start with
   ``v=BIMI1``; if there are none, the same at ``<selector>._bimi.<organizational domain>``.
   Several records, or one that does not parse: ``fail``. ``l=; a=;``: ``declined``.

``pass`` here means "the record is usable": the caller still fetches the Indicator over HTTPS,
checks it (:func:`postoffice.auth.bimi.svg.check_svg`) and reports it with
:meth:`BimiResult.indicator_checked` before adding :meth:`BimiResult.location_field`.
Evidence documents (Mark Certificates) are not verified, so ``a=`` is never passed on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from postoffice.auth.bimi.record import (
    DEFAULT_SELECTOR,
    BimiRecord,
    BimiRecordError,
    is_bimi_record,
    location_field,
    parse_record,
)
from postoffice.auth.dmarc import DmarcRecord, DmarcResult, DmarcStatus, Policy, discover_policy
from postoffice.auth.dns import Flow, RRType, lookup
from postoffice.auth.orgdomain import normalize_domain, organizational_domain
from postoffice.auth.results import MethodResult, Property

__all__ = ["BimiResult", "BimiStatus", "dmarc_at_enforcement", "evaluate"]


class BimiStatus(StrEnum):
    """The ``bimi=`` result words (draft 7.7)."""

    PASS = "pass"
    NONE = "none"
    """No BIMI record."""
    FAIL = "fail"
    """A bad record (or Indicator)."""
    TEMPERROR = "temperror"
    DECLINED = "declined"
    """The domain published ``l=; a=;``."""
    SKIPPED = "skipped"
    """Not checked: DMARC failed or is not at enforcement."""


@dataclass(frozen=True, slots=True)
class BimiResult:
    """The outcome of BIMI for one message."""

    result: BimiStatus
    selector: str
    """The selector used."""
    domain: str | None = None
    """The domain whose record was found (the Author or the Organizational Domain)."""
    record: BimiRecord | None = None
    detail: str = ""
    """Why, for anything but pass."""

    def indicator_checked(self, problems: Sequence[str]) -> BimiResult:
        """This result after the Indicator was fetched and checked: ``fail`` if it has problems."""
        if self.result is not BimiStatus.PASS or not problems:
            return self
        return replace(self, result=BimiStatus.FAIL, detail="; ".join(problems))

    def location_field(self) -> bytes | None:
        """The ``BIMI-Location`` field to add, for a pass."""
        if self.result is not BimiStatus.PASS or self.record is None:
            return None
        return location_field(self.record)

    def method_result(self) -> MethodResult:
        """The ``bimi=`` entry for Authentication-Results."""
        props: list[Property] = []
        if self.domain is not None and self.record is not None:
            props += [Property("header", "d", self.domain),
                      Property("header", "selector", self.selector)]
            if self.result is BimiStatus.PASS and self.record.location:
                props.append(Property("policy", "indicator-uri", self.record.location))
        return MethodResult("bimi", str(self.result), comment=self.detail or None,
                            properties=tuple(props))


def dmarc_at_enforcement(record: DmarcRecord) -> bool:
    """The draft's DMARC condition (1, 7.1): ``p=reject``, or ``p=quarantine`` with ``pct=100``;
    and no ``sp=none``."""
    if record.subdomain_policy is Policy.NONE:
        return False
    if record.policy is Policy.QUARANTINE:
        return record.percent == 100
    return record.policy is Policy.REJECT


def evaluate(
    author_domain: str, dmarc: DmarcResult, selector: str | None = None
) -> Flow[BimiResult]:
    """BIMI for a message from ``author_domain`` whose DMARC result is ``dmarc``; ``selector``
    from a DKIM-covered ``BIMI-Selector`` field (None: ``default``)."""
    selector = selector or DEFAULT_SELECTOR
    domain = normalize_domain(author_domain)
    if dmarc.result is not DmarcStatus.PASS or dmarc.record is None:
        return BimiResult(BimiStatus.SKIPPED, selector, detail="message failed DMARC")
    if not dmarc_at_enforcement(dmarc.record):
        return BimiResult(BimiStatus.SKIPPED, selector, detail="DMARC policy not at enforcement")
    org = organizational_domain(domain)
    if dmarc.policy_domain != org:  # the Organizational Domain's own record must enforce too
        org_policy = yield from discover_policy(org)
        if org_policy.status is DmarcStatus.TEMPERROR:
            return BimiResult(BimiStatus.TEMPERROR, selector, detail=org_policy.detail)
        if org_policy.record is not None and not dmarc_at_enforcement(org_policy.record):
            return BimiResult(BimiStatus.SKIPPED, selector,
                              detail="organizational DMARC policy not at enforcement")
    found = yield from _bimi_texts(selector, domain)
    if found == () and org != domain:
        domain = org
        found = yield from _bimi_texts(selector, domain)
    if found is None:
        return BimiResult(BimiStatus.TEMPERROR, selector, domain, detail="DNS failed")
    if not found:
        return BimiResult(BimiStatus.NONE, selector, detail="no BIMI record")
    if len(found) > 1:
        return BimiResult(BimiStatus.FAIL, selector, domain, detail="several BIMI records")
    try:
        record = parse_record(found[0])
    except BimiRecordError as exc:
        return BimiResult(BimiStatus.FAIL, selector, domain, detail=str(exc))
    if record.declined:
        return BimiResult(BimiStatus.DECLINED, selector, domain, record, "declined to publish")
    if record.location is None:
        return BimiResult(BimiStatus.FAIL, selector, domain, record,
                          "evidence without l= (evidence documents are not verified)")
    return BimiResult(BimiStatus.PASS, selector, domain, record)


def _bimi_texts(selector: str, domain: str) -> Flow[tuple[str, ...] | None]:
    """The BIMI records at ``<selector>._bimi.<domain>``; None on a temporary DNS failure."""
    answer = yield from lookup(f"{selector}._bimi.{domain}", RRType.TXT)
    if answer.temporary:
        return None
    return tuple(text for text in answer.texts if is_bimi_record(text))
