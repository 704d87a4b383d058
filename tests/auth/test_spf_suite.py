"""The SPF conformance suites: RFC 7208 and RFC 4408 (openspf, as kept by pyspf), and pyspf's
own extra tests, every case against postoffice.auth.spf on the suite's zone data.

A case gives the client address, MAIL FROM (empty: the HELO identity is checked) and HELO, and
the result, or a list of acceptable results. ``explanation`` is the expected fail explanation;
``DEFAULT`` means "no exp= applied", i.e. our default explanation. pyspf's extra cases carry
a ``header``: its key-value pairs are compared with our Received-SPF (the comment is free text).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from postoffice.auth.dns import Zone, run_sync
from postoffice.auth.spf import (
    SpfVerdict,
    check_mail_from,
    default_explanation,
    received_spf_header,
)
from postoffice.auth.zonedata import zone_from_suite_data

yaml = pytest.importorskip("yaml", reason="needs PyYAML (test dependency) to read the suites")

CONFORMANCE = Path(
    os.environ.get("POSTOFFICE_CONFORMANCE")
    or Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
)
SUITE = CONFORMANCE / "spf-rfc7208-rfc4408"
FILES = ("rfc7208-tests.yml", "rfc4408-tests.yml", "pyspf-extra-test.yml")

# Cases whose expectation contradicts RFC 7208, by (file, case). The RFC 4408 suite needs none:
# wherever RFC 7208 changed an outcome, its expectations list the RFC 7208 result among the
# acceptable ones.
SKIPS = {
    ("pyspf-extra-test.yml", "default-modifier"):
        "pyspf's lax mode (strict=0) honours the obsolete default= modifier; RFC 7208 section 6 "
        "ignores unknown modifiers (the RFC 7208 suite's default-modifier-obsolete: neutral)",
    ("pyspf-extra-test.yml", "default-modifier-harsh"):
        "'ambiguous' is a result of pyspf's harsh mode (strict=2), not one of RFC 7208",
}


def _cases() -> list[Any]:
    if not SUITE.is_dir():
        return [pytest.param(None, None, id="suite-missing",
                             marks=pytest.mark.skip(reason=f"no SPF suite at {SUITE}"))]
    params = []
    for file in FILES:
        for number, document in enumerate(yaml.safe_load_all((SUITE / file).read_text()), 1):
            if not document or "tests" not in document:
                continue
            zone = zone_from_suite_data(document.get("zonedata") or {})
            for name, case in document["tests"].items():
                marks = [pytest.mark.skip(reason=SKIPS[file, name])] if (file, name) in SKIPS else []
                params.append(pytest.param(case, zone, id=f"{file}:{number}:{name}", marks=marks))
    return params


def _key_values(header: str) -> dict[str, str]:
    """The key-value pairs after the comment of a Received-SPF field (quotes removed)."""
    text = re.sub(r"\s+", " ", header.strip())
    rest = text[text.rindex(")") + 1 :] if ")" in text else text.split(" ", 1)[1]
    pairs = re.findall(r'([\w-]+)=("(?:[^"\\]|\\.)*"|[^;\s]+)', rest)
    return {k: (v[1:-1].replace('\\"', '"') if v.startswith('"') else v) for k, v in pairs}


@pytest.mark.parametrize(("case", "zone"), _cases())
def test_suite_case(case: dict[str, Any], zone: Zone) -> None:
    result = run_sync(
        check_mail_from(case["host"], case["mailfrom"], case["helo"],
                        receiver=case.get("receiver", "unknown")),
        zone,
    )
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert str(result.result) in expected, (result.problem, [str(t) for t in result.trace])
    if "explanation" in case:
        assert result.result is SpfVerdict.FAIL
        wanted = case["explanation"]
        if wanted == "DEFAULT":
            wanted = default_explanation(result.domain, result.ip)
        assert result.explanation == wanted
    if "header" in case:
        ours = _key_values(received_spf_header(result).decode().partition(":")[2])
        theirs = _key_values(case["header"])
        # problem= is free text (pyspf leaves it out when it repeats the comment)
        assert ours.keys() - {"problem"} == theirs.keys() - {"problem"}
        for key in theirs.keys() - {"problem"}:
            assert ours[key] == theirs[key], key
