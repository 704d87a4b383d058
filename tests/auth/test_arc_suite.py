"""The ARC test suite (ValiMail arc_test_suite, draft-18 era) in ../shared/conformance/arc-test-suite.

* arc-draft-validation-tests.yml: each message's chain validates to the expected ``cv``.
* arc-draft-sign-tests.yml: sealing each message (after validating it) gives the expected ARC-Seal,
  ARC-Message-Signature and ARC-Authentication-Results, compared as the suite's harness
  (testarc.py) does: all whitespace removed, as sets of ``;``-separated parts; here the sets must
  be equal (the harness only asks ours to be a subset). The suite's standard layout (tags in
  alphabetical order, ``"; "`` between them) is what ``seal`` writes, so ``b=`` matches exactly.
  The AAR payload is this hop's Authentication-Results consolidated as the suite's README says:
  every A-R field of the ``srv-id``, in order, their results joined by ``;``.

Messages are YAML literal blocks with LF line endings: converted to CRLF first.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.arc import ArcStatus, seal, validate
from postoffice.auth.dkim import SigningKey, load_private_key
from postoffice.auth.dkim.canonical import split_message
from postoffice.auth.dns import ZoneData, run_sync

yaml = pytest.importorskip("yaml", reason="the ARC suite is YAML: needs PyYAML")

NOW = 1_700_000_000  # the suite's signatures have t=12345.. and no x=


def _suite() -> Path:
    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
    return base / "arc-test-suite"


SUITE = _suite()
pytestmark = pytest.mark.skipif(not SUITE.is_dir(), reason=f"ARC test suite not found at {SUITE}")

# Three validation cases leave cv empty: the newest seal says cv=fail. RFC 8617 5.2 step 2 makes
# that a failed chain, and so does this validator.
UNSPECIFIED_CV = {"cv_fail_i1_as_cv_fail", "cv_fail_i2_as2_fail", "cv_fail_i2_as1_fail"}

SKIPPED = {
    "ams_fields_c_na": "an AMS without c=: the suite (made with dkimpy) reads relaxed/relaxed; RFC 8617 "
                       "4.1.2 gives the AMS DKIM-Signature's semantics, whose default is simple/simple",
}


def crlf(text: str) -> bytes:
    return re.sub(r"(?<!\r)\n", "\r\n", text).encode("utf-8")


def scenarios(name: str) -> list[dict[str, Any]]:
    if not SUITE.is_dir():
        return []
    with open(SUITE / name, encoding="utf-8") as file:
        return list(yaml.safe_load_all(file))


def cases(name: str) -> list[Any]:
    found = []
    for scenario in scenarios(name):
        zone = {record: [{"TXT": text}] for record, text in scenario["txt-records"].items()}
        for test_id, test in scenario["tests"].items():
            marks = [pytest.mark.skip(reason=SKIPPED[test_id])] if test_id in SKIPPED else []
            found.append(pytest.param(test, zone, scenario, id=test_id, marks=marks))
    return found


VALIDATION = cases("arc-draft-validation-tests.yml")
SIGNING = cases("arc-draft-sign-tests.yml")


def test_inventory() -> None:
    assert len(VALIDATION) == 171 and len(SIGNING) == 17  # as SOURCE.txt counts them


@pytest.mark.parametrize(("test", "zone", "scenario"), VALIDATION)
def test_validation(test: dict[str, Any], zone: ZoneData, scenario: dict[str, Any], request: pytest.FixtureRequest) -> None:
    expected = str(test["cv"]).strip().lower()
    if request.node.callspec.id in UNSPECIFIED_CV:
        assert expected == ""
        expected = "fail"
    result = run_sync(validate(crlf(test["message"]), now=NOW), zone)
    assert result.status == ArcStatus(expected), result.reason


def consolidated_authres(message: bytes, authserv_id: str) -> str:
    """The suite's AR consolidation: every Authentication-Results of ``authserv_id``, in order."""
    fields, _ = split_message(message)
    parts: list[str] = []
    for field in fields:
        if field.lname == b"authentication-results":
            server, _, results = field.value.decode().partition(";")
            if server.strip() == authserv_id:
                parts += [server.strip()] if not parts else []
                parts += [results.strip()] if results.strip() else []
    return "; ".join(parts)


def tag_set(value: str) -> set[str]:
    return set("".join(value.split()).split(";"))


@pytest.mark.parametrize(("test", "zone", "scenario"), SIGNING)
def test_signing(test: dict[str, Any], zone: ZoneData, scenario: dict[str, Any]) -> None:
    message = crlf(test["message"])
    chain = run_sync(validate(message, now=NOW), zone)
    key = SigningKey(scenario["domain"], scenario["sel"], load_private_key(scenario["privatekey"].encode()))
    out = seal(message, authres=consolidated_authres(message, test["srv-id"]), key=key,
               timestamp=int(test["t"]), chain=chain, headers=test["sig-headers"].split(":"))
    if not test["AS"].strip():
        assert out == b"" and chain.status is ArcStatus.FAIL
        return
    fields, _ = split_message(out + b"\r\n")
    assert [f.lname for f in fields] == [b"arc-seal", b"arc-message-signature", b"arc-authentication-results"]
    for field, expected in zip(fields, (test["AS"], test["AMS"], test["AAR"]), strict=True):
        assert tag_set(field.value.decode()) == tag_set(expected), field.name
    # and the new chain validates: pass after a good chain, fail after a failed one
    resealed = run_sync(validate(out + message, now=NOW), zone)
    assert resealed.status is (ArcStatus.FAIL if chain.status is ArcStatus.FAIL else ArcStatus.PASS)
