"""DMARC (RFC 7489, with DMARCbis's ``np=``): records, the Author Domain, evaluation.

::

    author = author_domain(message)                   # AuthorDomain, or FromProblem: reject
    result = yield from evaluate(author.domain, SpfCheck.for_envelope("pass", mail_from, helo),
                                 [DkimCheck("pass", "example.com")])
    result.result, result.disposition                 # DmarcStatus.PASS, Policy.NONE
"""

from postoffice.auth.dmarc.author import AuthorDomain, FromProblem, author_domain, author_domain_of
from postoffice.auth.dmarc.evaluate import (
    DkimCheck,
    DmarcResult,
    DmarcStatus,
    PolicyDiscovery,
    SpfCheck,
    aligned,
    discover_policy,
    evaluate,
)
from postoffice.auth.dmarc.record import (
    Alignment,
    DmarcRecord,
    DmarcRecordError,
    Policy,
    RecordFault,
    ReportUri,
    is_dmarc_record,
    parse_record,
)

__all__ = [
    "Alignment",
    "AuthorDomain",
    "DkimCheck",
    "DmarcRecord",
    "DmarcRecordError",
    "DmarcResult",
    "DmarcStatus",
    "FromProblem",
    "Policy",
    "PolicyDiscovery",
    "RecordFault",
    "ReportUri",
    "SpfCheck",
    "aligned",
    "author_domain",
    "author_domain_of",
    "discover_policy",
    "evaluate",
    "is_dmarc_record",
    "parse_record",
]
