"""What the MX does with a message once its authentication is known: accept into the Inbox,
file in Junk, reject, or ask the sender to try again.

Rules, first match wins:

1. No usable author (no From field, several, several addresses, unparseable): reject
   `550 5.7.1`; DMARC cannot be applied to such a message, and it is how spoofing hides.
2. DMARC pass: accept.
3. A check failed for DNS reasons (temperror in SPF, a DKIM signature, or DMARC): `451 4.4.3`,
   try again later. Never a pass, never a permanent reject, never Junk on a DNS failure: the
   retry gets every check again.
4. DMARC disposition reject: `550 5.7.26` (or Junk, when configured to quarantine instead).
5. DMARC disposition quarantine: Junk.
6. Otherwise accept (spam scoring may still file it in Junk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["accept", "junk", "reject", "tempfail"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    reply: str
    """The SMTP reply for reject/tempfail ("550 5.7.26 ..."); "" otherwise."""
    reason: str


def decide(
    *,
    from_problem: str | None,
    dmarc: str,
    disposition: str,
    temperror: bool = False,
    reject_as_junk: bool = False,
) -> Verdict:
    """`dmarc`: the result word as Authentication-Results spells it; `disposition`: none,
    quarantine or reject (what the DMARC policy asks); `temperror`: SPF or a DKIM signature
    failed temporarily (a DNS failure)."""
    if from_problem is not None:
        return Verdict("reject", "550 5.7.1 Message must have exactly one author (From) address",
                       f"From: {from_problem}")
    if dmarc == "pass":
        return Verdict("accept", "", "DMARC pass")
    if dmarc == "temperror" or temperror:
        return Verdict("tempfail", "451 4.4.3 Temporary DNS failure during checks, try again later",
                       "a DNS lookup failed temporarily")
    if disposition == "reject":
        if reject_as_junk:
            return Verdict("junk", "", "DMARC policy reject, quarantined as configured")
        return Verdict("reject", "550 5.7.26 Unauthenticated email from this domain is not "
                       "accepted due to its DMARC policy", "DMARC policy reject")
    if disposition == "quarantine":
        return Verdict("junk", "", "DMARC policy quarantine")
    return Verdict("accept", "", f"DMARC {dmarc}")
