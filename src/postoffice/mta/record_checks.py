"""One published record against what it should be: the comparisons of `postoffice domain check`.

Pure: each function takes what a domain of ours should publish and the DNS answer (or the SPF
results, or the fetched MTA-STS policy) and returns a :class:`Row`: pass, missing or wrong, with
one line of advice. Lenient where receivers are: our MX hosts beside others, an SPF record
written differently that still passes our addresses, any DMARC policy, another TLS-RPT mailbox.
A lookup that failed (SERVFAIL, timeout) is wrong: nobody can read the record now.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth import dmarc
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import parse_key_record, public_key_record
from postoffice.auth.dns import DnsAnswer, TxtRecord, normalize_name
from postoffice.auth.spf import SpfResult, SpfVerdict, is_spf_record
from postoffice.policy.mta_sts import Policy, PolicyError, parse_policy, select_txt

__all__ = [
    "Row",
    "Status",
    "dkim_row",
    "dmarc_row",
    "mx_row",
    "policy_row",
    "spf_records",
    "spf_row",
    "sts_host_row",
    "sts_txt_row",
    "tlsrpt_row",
]

_DMARC_LIKE = re.compile(r"\s*v\s*=\s*dmarc", re.IGNORECASE)


class Status(StrEnum):
    PASS = "pass"
    MISSING = "missing"
    WRONG = "wrong"


@dataclass(frozen=True)
class Row:
    """The verdict on one record (or one set: the MX records, the policy file)."""

    type: str
    """MX, TXT, CNAME, or HTTPS for the MTA-STS policy file."""
    name: str
    """The DNS name (the policy's URL for HTTPS)."""
    status: Status
    expected: str
    found: str = ""
    """What was published ("" for nothing; "lookup failed: ..." when DNS could not tell)."""
    advice: str = ""
    """What to change; on a passing row, a note (or "")."""

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "status": str(self.status),
                "expected": self.expected, "found": self.found, "advice": self.advice}


def _failure(row_type: str, name: str, expected: str, answer: DnsAnswer) -> Row | None:
    """A wrong row when the lookup failed temporarily, else None."""
    if not answer.temporary:
        return None
    detail = f" ({answer.detail})" if answer.detail else ""
    return Row(row_type, name, Status.WRONG, expected, f"lookup failed: {answer.error}{detail}",
               "the nameservers did not answer: check them (or the [dns] nameservers) and run again")


def _texts(answer: DnsAnswer) -> list[str]:
    return list(answer.texts) if answer.ok else []


def mx_row(domain: str, hosts: Sequence[str], answer: DnsAnswer) -> Row:
    """Our MX hosts must all be there; others beside them get a note."""
    expected = ", ".join(f"{10 * (i + 1)} {host}." for i, host in enumerate(hosts))
    failed = _failure("MX", domain, expected, answer)
    if failed:
        return failed
    found = ", ".join(f"{r.preference} {r.exchange}." for r in answer.mx)
    published = {r.exchange for r in answer.mx}
    ours = {normalize_name(h) for h in hosts}
    absent = [h for h in hosts if normalize_name(h) not in published]
    others = sorted(published - ours)
    also = f"other MX hosts receive the domain's mail too: {', '.join(others)}" if others else ""
    if not published:
        return Row("MX", domain, Status.MISSING, expected, found, f"publish {expected}")
    if absent:
        return Row("MX", domain, Status.WRONG, expected, found,
                   f"add MX {', '.join(absent)}" + (f" ({also})" if also else ""))
    return Row("MX", domain, Status.PASS, expected, found, f"note: {also}" if also else "")


def spf_records(answer: DnsAnswer) -> list[str]:
    """The v=spf1 records among the TXT records."""
    return [r.text for r in answer.records if isinstance(r, TxtRecord) and is_spf_record(r.data)]


def spf_row(domain: str, expected: str, answer: DnsAnswer, results: Sequence[SpfResult],
            unchecked: str = "") -> Row:
    """Exactly one SPF record, giving pass for every address in ``results`` (the addresses
    mail leaves from). ``unchecked`` says why there were no addresses to check."""
    failed = _failure("TXT", domain, expected, answer)
    if failed:
        return failed
    records = spf_records(answer)
    found = " | ".join(records)
    if not records:
        return Row("TXT", domain, Status.MISSING, expected, found, "publish the expected record")
    if len(records) > 1:
        return Row("TXT", domain, Status.WRONG, expected, found,
                   f"{len(records)} v=spf1 records make SPF fail (permerror): merge them into one")
    if unchecked:
        return Row("TXT", domain, Status.WRONG, expected, found, unchecked)
    failing = [r for r in results if r.result is not SpfVerdict.PASS]
    if failing:
        why = ", ".join(f"{r.ip} gets {r.result}" + (f" ({r.problem})" if r.problem else "")
                        for r in failing)
        return Row("TXT", domain, Status.WRONG, expected, found,
                   f"{why}: the record must allow every address mail leaves from "
                   "(publish the expected record)")
    return Row("TXT", domain, Status.PASS, expected, found)


def dkim_row(name: str, expected: str, answer: DnsAnswer, active: bool = True) -> Row:
    """The key published at ``name`` must be ours (compared as keys, not as text). An older
    key (``active`` False) may be gone: only mail signed before the rotation needs it."""
    failed = _failure("TXT", name, expected, answer)
    if failed:
        return failed
    texts = _texts(answer)
    found = " | ".join(texts)
    if not texts:
        if not active:
            return Row("TXT", name, Status.PASS, expected, found,
                       "note: an older key, not published; fine once mail signed with it "
                       "has been delivered")
        return Row("TXT", name, Status.MISSING, expected, found, "publish the expected record")
    if len(texts) > 1:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"{len(texts)} TXT records: keep only the expected one")
    ours = parse_key_record(expected).public_key
    assert ours is not None
    try:
        published = parse_key_record(texts[0]).public_key
    except DkimError as exc:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"not a usable key record ({exc}): publish the expected one")
    if published is None:
        return Row("TXT", name, Status.WRONG, expected, found,
                   "the key is revoked (empty p=): publish the expected record")
    if public_key_record(published) != public_key_record(ours):
        return Row("TXT", name, Status.WRONG, expected, found,
                   "another key than ours: signatures will not verify; publish the expected record")
    return Row("TXT", name, Status.PASS, expected, found)


def dmarc_row(domain: str, expected: str, answer: DnsAnswer) -> Row:
    """A valid DMARC record, whatever its policy (p=none gets a note)."""
    name = f"_dmarc.{domain}"
    failed = _failure("TXT", name, expected, answer)
    if failed:
        return failed
    records = [t for t in _texts(answer) if dmarc.is_dmarc_record(t) or _DMARC_LIKE.match(t)]
    found = " | ".join(records)
    if not records:
        return Row("TXT", name, Status.MISSING, expected, found, "publish the expected record")
    if len(records) > 1:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"{len(records)} DMARC records: receivers ignore them all; keep one")
    try:
        record = dmarc.parse_record(records[0])
    except dmarc.DmarcRecordError as exc:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"invalid ({exc}): publish the expected record")
    notes = []
    if record.policy is dmarc.Policy.NONE:
        notes.append("p=none only monitors: move to quarantine or reject once the reports "
                     "show your mail passes")
    notes += record.problems
    return Row("TXT", name, Status.PASS, expected, found,
               f"note: {'; '.join(notes)}" if notes else "")


def sts_txt_row(domain: str, expected_id: str, answer: DnsAnswer) -> Row:
    """The ``_mta-sts`` record with the id of the policy we serve now."""
    name, expected = f"_mta-sts.{domain}", f"v=STSv1; id={expected_id}"
    failed = _failure("TXT", name, expected, answer)
    if failed:
        return failed
    found = " | ".join(t for t in _texts(answer) if t.startswith("v=STSv1"))
    try:
        id = select_txt(_texts(answer))
    except PolicyError as exc:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"{exc}: publish the expected record")
    if id is None:
        return Row("TXT", name, Status.MISSING, expected, found, "publish the expected record")
    if id != expected_id:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"publish id={expected_id}: the policy changed, and senders fetch it again "
                   "only when the id does")
    return Row("TXT", name, Status.PASS, expected, found)


def sts_host_row(domain: str, target: str, answers: Sequence[DnsAnswer]) -> Row:
    """``mta-sts.<domain>`` must have an address; pointing elsewhere than our CNAME target is
    fine when that host serves the policy (the HTTPS row says)."""
    name, expected = f"mta-sts.{domain}", f"{normalize_name(target)}."
    addresses = [str(a) for answer in answers for a in answer.addresses]
    canonical = next((a.canonical_name for a in answers if a.canonical_name), None)
    found = f"{canonical}. " if canonical else ""
    found += f"({', '.join(addresses)})" if addresses else ""
    if not addresses:
        for answer in answers:
            failed = _failure("CNAME", name, expected, answer)
            if failed:
                return failed
        return Row("CNAME", name, Status.MISSING, expected, found.strip(),
                   "publish the expected CNAME (the host serving the MTA-STS policy)")
    if canonical != normalize_name(target):
        return Row("CNAME", name, Status.PASS, expected, found.strip(),
                   f"note: points at {canonical or 'addresses of its own'}, not {expected}: fine "
                   "if that host serves our policy (see the HTTPS row)")
    return Row("CNAME", name, Status.PASS, expected, found.strip())


def tlsrpt_row(domain: str, expected: str, answer: DnsAnswer) -> Row:
    """One v=TLSRPTv1 record with a rua= (RFC 8460 3); another mailbox than ours gets a note."""
    name = f"_smtp._tls.{domain}"
    failed = _failure("TXT", name, expected, answer)
    if failed:
        return failed
    records = [t for t in _texts(answer) if t.startswith("v=TLSRPTv1")]
    found = " | ".join(records)
    if not records:
        return Row("TXT", name, Status.MISSING, expected, found, "publish the expected record")
    if len(records) > 1:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"{len(records)} v=TLSRPTv1 records: senders ignore them all; keep one")
    fields = dict(f.strip().partition("=")[::2] for f in records[0].split(";") if f.strip())
    uris = [u.strip() for u in fields.get("rua", "").split(",") if u.strip()]
    if not uris or not all(u.startswith(("mailto:", "https:")) for u in uris):
        return Row("TXT", name, Status.WRONG, expected, found,
                   "no rua= with mailto: or https: URIs (where reports go): publish the expected "
                   "record")
    wanted = expected.partition("rua=")[2]
    note = f"note: reports go to {', '.join(uris)}, not {wanted}" if wanted not in uris else ""
    return Row("TXT", name, Status.PASS, expected, found, note)


def policy_row(url: str, expected: str, fetched: Policy | None, error: str = "") -> Row:
    """The policy served over HTTPS must say what ours says (mode, mx, max_age)."""
    if fetched is None:
        return Row("HTTPS", url, Status.WRONG, expected, f"fetch failed: {error}",
                   "serve the expected policy there over HTTPS, with a certificate valid for "
                   "that host (the http listener serves it: put a TLS proxy in front)")
    ours = parse_policy(expected)
    found = fetched.to_text()
    differences = []
    if fetched.mode != ours.mode:
        differences.append(f"mode {fetched.mode}, not {ours.mode}")
    if set(fetched.mx) != set(ours.mx):
        differences.append(f"mx {', '.join(fetched.mx) or '-'}, not {', '.join(ours.mx)}")
    if fetched.max_age != ours.max_age:
        differences.append(f"max_age {fetched.max_age}, not {ours.max_age}")
    if differences:
        return Row("HTTPS", url, Status.WRONG, expected, found,
                   f"serves {'; '.join(differences)}: serve the expected policy")
    return Row("HTTPS", url, Status.PASS, expected, found)



def bimi_row(domain: str, expected: str, answer: DnsAnswer) -> Row:
    """One v=BIMI1 record at default._bimi whose l= is our logo's URL."""
    from postoffice.auth.bimi import BimiRecordError, parse_record

    name = f"default._bimi.{domain}"
    failed = _failure("TXT", name, expected, answer)
    if failed:
        return failed
    records = [t for t in _texts(answer) if t.startswith("v=BIMI1")]
    found = " | ".join(records)
    if not records:
        return Row("TXT", name, Status.MISSING, expected, found, "publish the expected record")
    if len(records) > 1:
        return Row("TXT", name, Status.WRONG, expected, found,
                   f"{len(records)} v=BIMI1 records: receivers ignore them all; keep one")
    try:
        location = parse_record(records[0]).location
    except BimiRecordError as exc:
        return Row("TXT", name, Status.WRONG, expected, found, f"invalid record ({exc}): publish "
                   "the expected record")
    wanted = parse_record(expected).location
    if location != wanted:
        return Row("TXT", name, Status.WRONG, expected, found, f"l= should be {wanted}")
    return Row("TXT", name, Status.PASS, expected, found)
