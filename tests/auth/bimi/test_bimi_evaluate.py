"""BIMI discovery and its DMARC conditions (auth/bimi/evaluate.py) on in-memory zones."""

import pytest

from postoffice.auth.bimi import BimiRecord, BimiStatus, dmarc_at_enforcement, evaluate
from postoffice.auth.bimi.evaluate import BimiResult
from postoffice.auth.dmarc import DkimCheck, DmarcResult, DmarcStatus, parse_record
from postoffice.auth.dmarc import evaluate as dmarc_evaluate
from postoffice.auth.dns import Zone, run_sync

LOGO = "https://brand.example/logo.svg"

ZONE = Zone.from_data({
    "_dmarc.brand.example": [{"TXT": "v=DMARC1; p=reject"}],
    "default._bimi.brand.example": [{"TXT": f"v=BIMI1; l={LOGO}; a=https://brand.example/vmc.pem"}],
    "spring._bimi.brand.example": [{"TXT": "v=BIMI1; l=https://brand.example/spring.svg"}],
    "_dmarc.news.brand.example": [{"TXT": "v=DMARC1; p=quarantine"}],
    "default._bimi.news.brand.example": [{"TXT": "v=BIMI1; l=https://brand.example/news.svg"}],
    "default._bimi.quiet.brand.example": [{"TXT": "v=BIMI1; l=; a=;"}],
    "default._bimi.broken.brand.example": [{"TXT": "v=BIMI1; l=http://brand.example/x.svg"}],
    "default._bimi.twice.brand.example": [{"TXT": f"v=BIMI1; l={LOGO}"}, {"TXT": f"v=BIMI1; l={LOGO}"}],
    "default._bimi.evidence.brand.example": [{"TXT": "v=BIMI1; l=; a=https://brand.example/v.pem"}],
    "default._bimi.slow.brand.example": ["TIMEOUT"],
    "_dmarc.lax.example": [{"TXT": "v=DMARC1; p=reject; sp=none"}],
    "default._bimi.lax.example": [{"TXT": f"v=BIMI1; l={LOGO}"}],
    "_dmarc.weak.example": [{"TXT": "v=DMARC1; p=none"}],
    "_dmarc.sub.weak.example": [{"TXT": "v=DMARC1; p=reject"}],
    "default._bimi.sub.weak.example": [{"TXT": f"v=BIMI1; l={LOGO}"}],
    "_dmarc.plain.example": [{"TXT": "v=DMARC1; p=reject"}],
    "default._bimi.plain.example": [{"TXT": "v=spf1 -all"}],
})


def dmarc_pass(domain: str) -> DmarcResult:
    result = run_sync(dmarc_evaluate(domain, None, [DkimCheck("pass", domain)]), ZONE)
    assert result.result is DmarcStatus.PASS
    return result


def bimi(domain: str, selector: str | None = None) -> BimiResult:
    return run_sync(evaluate(domain, dmarc_pass(domain), selector), ZONE)


@pytest.mark.parametrize("record, enforcing", [
    ("v=DMARC1; p=reject", True),
    ("v=DMARC1; p=reject; pct=10", True),       # reject with any pct
    ("v=DMARC1; p=quarantine", True),
    ("v=DMARC1; p=quarantine; pct=100", True),
    ("v=DMARC1; p=quarantine; pct=99", False),
    ("v=DMARC1; p=none", False),
    ("v=DMARC1; p=reject; sp=none", False),
    ("v=DMARC1; p=reject; sp=quarantine", True),
])
def test_dmarc_at_enforcement(record: str, enforcing: bool) -> None:
    assert dmarc_at_enforcement(parse_record(record)) is enforcing


def test_pass_with_the_default_selector() -> None:
    result = bimi("brand.example")
    assert (result.result, result.domain, result.selector) == (BimiStatus.PASS, "brand.example", "default")
    assert result.location_field() == f"BIMI-Location: v=BIMI1; l={LOGO}\r\n".encode()
    assert result.method_result().items() == [
        "bimi=pass", "header.d=brand.example", "header.selector=default",
        f"policy.indicator-uri=\"{LOGO}\""]  # a URL is no token: quoted


def test_selectors_and_the_organizational_fallback() -> None:
    assert bimi("brand.example", "spring").record == BimiRecord("https://brand.example/spring.svg")
    news = bimi("news.brand.example")  # its own record
    assert (news.domain, news.record) == ("news.brand.example", BimiRecord("https://brand.example/news.svg"))
    shop = bimi("shop.brand.example")  # none of its own: the organisation's
    assert (shop.result, shop.domain) == (BimiStatus.PASS, "brand.example")
    missing = bimi("news.brand.example", "spring")  # a custom selector falls back the same way
    assert (missing.domain, missing.selector) == ("brand.example", "spring")
    assert bimi("brand.example", "autumn").result is BimiStatus.NONE


def test_records_that_do_not_pass() -> None:
    declined = bimi("quiet.brand.example")
    assert declined.result is BimiStatus.DECLINED and declined.location_field() is None
    assert bimi("broken.brand.example").result is BimiStatus.FAIL
    assert bimi("twice.brand.example").detail == "several BIMI records"
    assert bimi("evidence.brand.example").result is BimiStatus.FAIL
    assert bimi("slow.brand.example").result is BimiStatus.TEMPERROR
    assert bimi("plain.example").result is BimiStatus.NONE  # a TXT record, but not BIMI


def test_dmarc_conditions() -> None:
    failed = run_sync(dmarc_evaluate("brand.example", None, []), ZONE)
    skipped = run_sync(evaluate("brand.example", failed), ZONE)
    assert (skipped.result, skipped.detail) == (BimiStatus.SKIPPED, "message failed DMARC")
    assert skipped.method_result().items() == ["bimi=skipped", "(message failed DMARC)"]
    assert bimi("mail.lax.example").result is BimiStatus.SKIPPED          # sp=none
    sub = bimi("sub.weak.example")  # its own record enforces, its organisation's does not
    assert (sub.result, sub.detail) == (BimiStatus.SKIPPED, "organizational DMARC policy not at enforcement")


def test_indicator_check_outcome() -> None:
    result = bimi("brand.example")
    assert result.indicator_checked([]) is result
    failed = result.indicator_checked(["no title element", "<script> element (scripting)"])
    assert failed.result is BimiStatus.FAIL and failed.location_field() is None
    assert failed.detail == "no title element; <script> element (scripting)"
