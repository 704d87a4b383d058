"""OpenDMARC's test vectors (../shared/conformance/opendmarc-testdata/opendmarc-vectors.json),
read in place.

Every vector runs. Where postoffice deliberately differs from OpenDMARC the test asserts
postoffice's own outcome instead, and :data:`DIFFERENT` says why; no vector is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.dmarc import (
    Alignment,
    AuthorDomain,
    DmarcRecordError,
    FromProblem,
    RecordFault,
    aligned,
    author_domain,
    author_domain_of,
    parse_record,
)
from postoffice.auth.orgdomain import organizational_domain


def _conformance() -> Path:
    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


VECTORS = _conformance() / "opendmarc-testdata" / "opendmarc-vectors.json"
CASES: dict[str, list[dict[str, Any]]] = (
    json.loads(VECTORS.read_text())["cases"] if VECTORS.is_file() else {}
)
pytestmark = pytest.mark.skipif(not VECTORS.is_file(), reason=f"{VECTORS} not found")

# Where we differ, what we return instead, and why.
DIFFERENT: dict[str, tuple[object, str]] = {
    "v=DMARC1; p=n;": (
        RecordFault.BAD_POLICY,
        "OpenDMARC accepts a prefix of a policy word; RFC 7489's ABNF names the whole word",
    ),
    '"Johnson, Joe <joe@joe.com>" joe@joe.com': (
        FromProblem.UNPARSEABLE,
        "a quoted display name before a bare addr-spec is not RFC 5322; we reject, not guess",
    ),
    "<<<><joe@joe.com>>>": (FromProblem.UNPARSEABLE, "not an address"),
    "Joe Johnson <joe@joe.com>, ace@ace.com": (
        FromProblem.SEVERAL_ADDRESSES,
        "OpenDMARC takes the first address; postoffice rejects several authors",
    ),
    "joe@joe.com, ace@ace.com": (
        FromProblem.SEVERAL_ADDRESSES,
        "OpenDMARC takes the first address; postoffice rejects several authors",
    ),
    "Mail From:<joe@joe.com>": (FromProblem.UNPARSEABLE, "an SMTP command is not a From value"),
    '"( bob@bob.com)" joe@joe.com': (
        FromProblem.UNPARSEABLE,
        "a quoted display name before a bare addr-spec is not RFC 5322; we reject, not guess",
    ),
}


def _ids(cases: list[dict[str, Any]], key: str) -> list[str]:
    return [str(case[key]) or "<empty>" for case in cases]


def _record_outcome(text: str) -> str | RecordFault:
    try:
        record = parse_record(text)
    except DmarcRecordError as exc:
        return exc.fault
    return "DMARC_PARSE_ERROR_BAD_VALUE" if record.problems else "DMARC_PARSE_OKAY"


EXPECTED_FAULT = {
    "DMARC_PARSE_ERROR_EMPTY": {RecordFault.EMPTY},
    "DMARC_PARSE_ERROR_BAD_VERSION": {RecordFault.NOT_DMARC},
    "DMARC_PARSE_ERROR_NO_REQUIRED_P": {RecordFault.MISSING_POLICY},
    "DMARC_PARSE_ERROR_BAD_VALUE": {RecordFault.BAD_POLICY, "DMARC_PARSE_ERROR_BAD_VALUE"},
    "DMARC_PARSE_OKAY": {"DMARC_PARSE_OKAY"},
}

RECORDS = CASES.get("dmarc_record_parse", [])


@pytest.mark.parametrize("case", RECORDS, ids=_ids(RECORDS, "record"))
def test_record_parse(case: dict[str, Any]) -> None:
    outcome = _record_outcome(case["record"])
    if case["record"] in DIFFERENT:
        assert outcome == DIFFERENT[case["record"]][0]
    else:
        assert outcome in EXPECTED_FAULT[case["expected"]]


ALIGNMENT = CASES.get("alignment", [])


@pytest.mark.parametrize("case", ALIGNMENT, ids=[
    f"{c['from_domain']}~{c['auth_domain']}/{c['mode']}" for c in ALIGNMENT])
def test_alignment(case: dict[str, Any]) -> None:
    mode = Alignment.STRICT if case["mode"] == "strict" else Alignment.RELAXED
    assert aligned(case["from_domain"], case["auth_domain"], mode) is (case["expected"] == "aligned")


FROM_CASES = CASES.get("from_header_domain_extraction", [])


@pytest.mark.parametrize("case", FROM_CASES, ids=_ids(FROM_CASES, "input"))
def test_from_domain(case: dict[str, Any]) -> None:
    text: str = case["input"]
    if text.startswith("From:"):  # a whole field: read it as a message's header
        found = author_domain(f"{text}\r\n\r\n".encode())
    else:
        found = author_domain_of(text)
    if text in DIFFERENT:
        assert found is DIFFERENT[text][0]
    else:
        assert isinstance(found, AuthorDomain) and found.domain == case["expected_domain"]


ORG_CASES = CASES.get("organizational_domain", [])


@pytest.mark.parametrize("case", ORG_CASES, ids=_ids(ORG_CASES, "domain"))
def test_organizational_domain(case: dict[str, Any]) -> None:
    # OpenDMARC used its 2012 list; the bundled current list gives the same answers here
    assert organizational_domain(case["domain"]) == case["expected_org_domain"]


def test_every_difference_names_a_vector() -> None:
    inputs = {c["record"] for c in RECORDS} | {c["input"] for c in FROM_CASES}
    assert set(DIFFERENT) <= inputs
