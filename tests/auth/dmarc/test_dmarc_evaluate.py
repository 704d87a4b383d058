"""DMARC evaluation (auth/dmarc/evaluate.py) on in-memory zones."""

from collections.abc import Callable, Iterable

import pytest

from postoffice.auth.dmarc import (
    Alignment,
    DkimCheck,
    DmarcResult,
    DmarcStatus,
    Policy,
    SpfCheck,
    aligned,
    evaluate,
)
from postoffice.auth.dns import DnsQuery, Flow, Zone, run_sync
from postoffice.auth.orgdomain import normalize_domain, organizational_domain
from postoffice.auth.results import AuthenticationResults

ZONE = Zone.from_data({
    "_dmarc.example.org": [{"TXT": "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org"}],
    "example.org": [{"A": "192.0.2.1"}],
    "mail.example.org": [{"A": "192.0.2.2"}],
    "_dmarc.b.example.org": [{"TXT": "v=DMARC1; p=none"}],  # never consulted for a.b.example.org
    "_dmarc.own.example.org": [{"TXT": "v=DMARC1; p=none"}],
    "_dmarc.strict.example": [{"TXT": "v=DMARC1; p=reject; adkim=s; aspf=s"}],
    "_dmarc.np.example": [{"TXT": "v=DMARC1; p=none; sp=quarantine; np=reject"}],
    "real.np.example": [{"MX": [10, "mx.np.example"]}],
    "txtonly.np.example": [{"TXT": "site-verification=1"}],
    "flaky.np.example": ["TIMEOUT"],
    "_dmarc.two.example": [{"TXT": "v=DMARC1; p=reject"}, {"TXT": "v=DMARC1; p=none"}],
    "_dmarc.mixed.example": [{"TXT": "v=spf1 -all"}, {"TXT": ["v=DMARC1; ", "p=reject"]}],
    "_dmarc.bad.example": [{"TXT": "v=DMARC1; p=sometimes"}],
    "_dmarc.slow.example": ["TIMEOUT"],
    "_dmarc.pct.example": [{"TXT": "v=DMARC1; p=reject; pct=30"}],
    "_dmarc.quarantine.example": [{"TXT": "v=DMARC1; p=quarantine; pct=0"}],
    "_dmarc.example.co.uk": [{"TXT": "v=DMARC1; p=reject"}],
})

PASS_ORG = [DkimCheck("pass", "example.org")]


def never() -> float:
    raise AssertionError("pct=100 must not draw a sample")


def dmarc(
    from_domain: str,
    spf: SpfCheck | None = None,
    dkim: Iterable[DkimCheck] = (),
    sample: Callable[[], float] = never,
) -> DmarcResult:
    return run_sync(evaluate(from_domain, spf, dkim, sample=sample), ZONE)


def asked(flow: Flow[DmarcResult]) -> list[str]:
    """The names a flow queries, in order."""
    names: list[str] = []
    reply = None
    try:
        while True:
            request = flow.send(reply) if reply is not None else next(flow)
            batch = (request,) if isinstance(request, DnsQuery) else request
            names += [f"{q.name} {q.rdtype}" for q in batch]
            answers = tuple(ZONE.answer(q) for q in batch)
            reply = answers[0] if isinstance(request, DnsQuery) else answers
    except StopIteration:
        return names


def test_alignment_modes() -> None:
    assert aligned("example.org", "EXAMPLE.org.", Alignment.STRICT)
    assert not aligned("mail.example.org", "example.org", Alignment.STRICT)
    assert aligned("mail.example.org", "example.org", Alignment.RELAXED)
    assert aligned("a.example.co.uk", "b.example.co.uk", Alignment.RELAXED)
    assert not aligned("example.co.uk", "other.co.uk", Alignment.RELAXED)
    assert not aligned("example.org", "org", Alignment.RELAXED)  # a public suffix is no match
    assert not aligned("example.org", "", Alignment.RELAXED)


def test_organizational_domains_and_normal_form() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert organizational_domain("Mail.Example.ORG.") == "example.org"
    assert organizational_domain("co.uk") == "co.uk"
    assert organizational_domain("host.unknown-tld-xyz") == "host.unknown-tld-xyz"
    assert normalize_domain("Bücher.Example") == "xn--bcher-kva.example"
    assert organizational_domain("mac...com") == "mac...com"


def test_aligned_dkim_passes() -> None:
    result = dmarc("example.org", dkim=[DkimCheck("pass", "mail.example.org"),
                                        DkimCheck("pass", "other.example")])
    assert result.result is DmarcStatus.PASS and result.disposition is Policy.NONE
    assert result.dkim_aligned == ("mail.example.org",) and not result.spf_aligned
    assert (result.policy, result.policy_tag, result.policy_domain) == (Policy.REJECT, "p", "example.org")


def test_aligned_spf_passes_and_helo_stands_in_for_a_null_sender() -> None:
    assert dmarc("example.org", SpfCheck("pass", "example.org")).spf_aligned
    assert dmarc("example.org", SpfCheck.for_envelope("pass", "b@mail.example.org", "x.test")).spf_aligned
    helo = SpfCheck.for_envelope("pass", "", "mail.example.org")
    assert helo.domain == "mail.example.org"
    assert dmarc("example.org", helo).result is DmarcStatus.PASS


@pytest.mark.parametrize("spf, dkim", [
    (SpfCheck("softfail", "example.org"), []),                # aligned but not a pass
    (SpfCheck("pass", "other.example"), []),                  # a pass, not aligned
    (None, [DkimCheck("fail", "example.org")]),
    (None, [DkimCheck("pass", "example.org.evil.example")]),
    (None, []),
])
def test_failures_get_the_policy(spf: SpfCheck | None, dkim: list[DkimCheck]) -> None:
    result = dmarc("example.org", spf, dkim)
    assert result.result is DmarcStatus.FAIL and result.disposition is Policy.REJECT
    assert result.sampled and not result.spf_aligned and result.dkim_aligned == ()


def test_strict_alignment() -> None:
    assert dmarc("strict.example", dkim=[DkimCheck("pass", "mail.strict.example")]).result is DmarcStatus.FAIL
    assert dmarc("strict.example", SpfCheck("pass", "mail.strict.example")).result is DmarcStatus.FAIL
    assert dmarc("strict.example", SpfCheck("pass", "Strict.Example")).result is DmarcStatus.PASS


def test_subdomains_use_the_organizational_record_and_sp() -> None:
    result = dmarc("a.b.example.org")
    assert result.policy_domain == "example.org"  # not b.example.org: RFC 7489 asks two names only
    assert (result.policy, result.policy_tag, result.disposition) == (
        Policy.QUARANTINE, "sp", Policy.QUARANTINE)
    assert asked(evaluate("a.b.example.org", None, [])) == [
        "_dmarc.a.b.example.org TXT", "_dmarc.example.org TXT"]
    assert dmarc("mail.example.org", dkim=PASS_ORG).result is DmarcStatus.PASS
    own = dmarc("own.example.org")  # its own record wins over the organisation's
    assert (own.result, own.policy_domain, own.disposition) == (DmarcStatus.FAIL, "own.example.org", Policy.NONE)
    uk = dmarc("shop.example.co.uk", dkim=[DkimCheck("pass", "example.co.uk")])
    assert uk.result is DmarcStatus.PASS and uk.policy_domain == "example.co.uk"


def test_np_applies_to_subdomains_that_do_not_exist() -> None:
    ghost = dmarc("ghost.np.example")
    assert (ghost.policy_tag, ghost.disposition) == ("np", Policy.REJECT)
    assert dmarc("txtonly.np.example").policy_tag == "np"  # no A, AAAA or MX: non-existent
    assert dmarc("real.np.example").policy_tag == "sp"
    assert dmarc("flaky.np.example").policy_tag == "sp"  # a timeout is no proof of absence
    top = dmarc("np.example")
    assert (top.policy_tag, top.disposition) == ("p", Policy.NONE)
    assert asked(evaluate("ghost.np.example", None, []))[-3:] == [
        "ghost.np.example A", "ghost.np.example AAAA", "ghost.np.example MX"]
    assert len(asked(evaluate("mail.example.org", None, []))) == 2  # no np=: no existence check


def test_records_that_do_not_settle_a_policy() -> None:
    two = dmarc("two.example")
    assert (two.result, two.detail) == (DmarcStatus.NONE, "several DMARC records")
    assert dmarc("mixed.example").disposition is Policy.REJECT  # the SPF record is set aside
    bad = dmarc("bad.example")
    assert bad.result is DmarcStatus.PERMERROR and "p=sometimes" in bad.detail
    assert dmarc("slow.example").result is DmarcStatus.TEMPERROR
    assert dmarc("sub.slow.example").result is DmarcStatus.TEMPERROR
    nothing = dmarc("nowhere.example", dkim=[DkimCheck("pass", "nowhere.example")])
    assert (nothing.result, nothing.disposition, nothing.record) == (DmarcStatus.NONE, Policy.NONE, None)


def test_an_empty_author_domain_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        dmarc(" . ")


def test_pct_sampling_weakens_unselected_messages() -> None:
    assert dmarc("pct.example", sample=lambda: 0.29).disposition is Policy.REJECT
    weakened = dmarc("pct.example", sample=lambda: 0.30)
    assert (weakened.disposition, weakened.sampled) == (Policy.QUARANTINE, False)
    assert dmarc("quarantine.example", sample=lambda: 0.0).disposition is Policy.NONE  # pct=0
    assert dmarc("pct.example", dkim=[DkimCheck("pass", "pct.example")]).disposition is Policy.NONE


def test_authentication_results_entry() -> None:
    fail = dmarc("mail.example.org").method_result()
    none = dmarc("nowhere.example").method_result()
    field = AuthenticationResults("mx.example.net", (fail, none)).render().decode()
    assert field == (
        "Authentication-Results: mx.example.net;\r\n"
        "\tdmarc=fail (sp=quarantine dis=quarantine) header.from=mail.example.org;\r\n"
        '\tdmarc=none reason="no DMARC record" header.from=nowhere.example\r\n'
    )
