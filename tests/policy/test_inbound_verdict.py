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
    # A DNS failure that could have passed DMARC holds a policy back: try again, never reject.
    ({"from_problem": None, "dmarc": "fail", "disposition": "reject", "aligned_temperror": True}, "tempfail", "451 4.4.3"),
    ({"from_problem": None, "dmarc": "fail", "disposition": "quarantine", "aligned_temperror": True}, "tempfail", "451"),
    # ... but not when no policy would act on the message.
    ({"from_problem": None, "dmarc": "fail", "disposition": "none", "aligned_temperror": True}, "accept", ""),
])
def test_decide(kwargs: dict[str, object], action: str, reply: str) -> None:
    verdict = decide(**kwargs)
    assert verdict.action == action and verdict.reply.startswith(reply) and verdict.reason
