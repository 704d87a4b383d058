"""The MX's verdict from authentication results (policy/inbound.py)."""

import pytest

from postoffice.policy.inbound import decide


@pytest.mark.parametrize("kwargs, action, reply", [
    ({"from_problem": "several-from-fields", "dmarc": "pass", "disposition": "none"}, "reject", "550 5.7.1"),
    ({"from_problem": None, "dmarc": "pass", "disposition": "none"}, "accept", ""),
    ({"from_problem": None, "dmarc": "temperror", "disposition": "none"}, "tempfail", "451 4.4.3"),
    ({"from_problem": None, "dmarc": "fail", "disposition": "reject"}, "reject", "550 5.7.26"),
    ({"from_problem": None, "dmarc": "fail", "disposition": "reject", "reject_as_junk": True}, "junk", ""),
    ({"from_problem": None, "dmarc": "fail", "disposition": "quarantine"}, "junk", ""),
    ({"from_problem": None, "dmarc": "fail", "disposition": "none"}, "accept", ""),
    ({"from_problem": None, "dmarc": "none", "disposition": "none"}, "accept", ""),
    # A DNS failure in SPF or DKIM: try again, never reject, never Junk, never a pass...
    ({"from_problem": None, "dmarc": "fail", "disposition": "reject", "temperror": True}, "tempfail", "451 4.4.3"),
    ({"from_problem": None, "dmarc": "fail", "disposition": "quarantine", "temperror": True}, "tempfail", "451"),
    ({"from_problem": None, "dmarc": "none", "disposition": "none", "temperror": True}, "tempfail", "451"),
    # ... unless DMARC passed all the same (a DKIM pass of the author's domain).
    ({"from_problem": None, "dmarc": "pass", "disposition": "none", "temperror": True}, "accept", ""),
])
def test_decide(kwargs: dict[str, object], action: str, reply: str) -> None:
    verdict = decide(**kwargs)
    assert verdict.action == action and verdict.reply.startswith(reply) and verdict.reason
