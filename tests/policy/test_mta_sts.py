"""MTA-STS decisions (RFC 8461): TXT records, policy files, MX patterns, cache rules, apply()."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.policy.mta_sts import (
    MAX_AGE_LIMIT,
    NO_MATCH_STATUS,
    REFRESH_AFTER,
    CacheAction,
    CachedPolicy,
    Mode,
    Policy,
    PolicyError,
    after_failed_fetch,
    apply,
    cache_decision,
    mx_matches,
    parse_policy,
    parse_txt,
    select_txt,
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# --------------------------------------------------------------------------- TXT record

def test_txt_rfc_example() -> None:
    # RFC 8461 3.1: _mta-sts.example.com.  IN TXT "v=STSv1; id=20160831085700Z;"
    assert parse_txt("v=STSv1; id=20160831085700Z;") == "20160831085700Z"


@pytest.mark.parametrize("text, expected", [
    ("v=STSv1; id=abc", "abc"),  # final ';' is optional
    ("v=STSv1;id=abc;", "abc"),
    ("v=STSv1 ;\tid=abc ; ", "abc"),  # WSP around the delimiters
    ("v=STSv1; ext=x; id=abc", "abc"),  # extensions before and after
    ("v=STSv1; id=abc; foo_bar.v-2=a:b(c)/d'e", "abc"),
    ("v=STSv1; id=" + "a" * 32, "a" * 32),
])
def test_txt_valid(text: str, expected: str) -> None:
    assert parse_txt(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("v=STSv1", "expected 'v=STSv1;'"),
    ("v=STSv1;", "without id"),
    ("v=STSv1 id=abc", "expected 'v=STSv1;'"),
    ("v=STSv1; id=", "bad id"),
    ("v=STSv1; id=abc-def", "bad id"),
    ("v=STSv1; id=" + "a" * 33, "bad id"),
    ("v=STSv1; ID=abc", "without id"),  # field names are case-sensitive
    ("v=STSv1;; id=abc", "malformed field ''"),
    ("v=STSv1; id=abc; ext=a=b", "malformed field"),  # '=' is not allowed in a value
    ("v=STSv1; id=abc; ext=", "malformed field"),
    ("v=STSv1; id=abc; -ext=1", "malformed field"),
    ("v=STSv1; id=a; id=b", "id given twice"),
    ("v=STSv2; id=abc", "does not start with v=STSv1"),
])
def test_txt_malformed(text: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        parse_txt(text)


def test_txt_selection() -> None:
    assert select_txt([]) is None
    assert select_txt(["v=spf1 -all", "id=a; v=STSv1"]) is None
    # records that do not begin with "v=STSv1;" are discarded before counting
    assert select_txt(["v=spf1 -all", "v=STSv10; id=a", "v=STSv1; id=good"]) == "good"
    assert select_txt(["v=STSv1 ; id=spaced"]) == "spaced"
    with pytest.raises(PolicyError, match="2 v=STSv1 TXT records"):
        select_txt(["v=STSv1; id=a", "v=STSv1; id=b"])
    with pytest.raises(PolicyError, match="bad id"):
        select_txt(["v=STSv1; id=!"])


# --------------------------------------------------------------------------- policy file

RFC_POLICY = (
    "version: STSv1\r\n"
    "mode: enforce\r\n"
    "mx: mail.example.com\r\n"
    "mx: *.example.net\r\n"
    "mx: backupmx.example.com\r\n"
    "max_age: 604800\r\n"
)


def test_policy_rfc_example() -> None:
    policy = parse_policy(RFC_POLICY.encode())
    assert policy == Policy(
        Mode.ENFORCE, ("mail.example.com", "*.example.net", "backupmx.example.com"), 604800
    )


def test_policy_lf_lines_blank_lines_spaces_unknown_keys() -> None:
    text = (
        "mode:testing  \n\n"
        "version: STSv1\n"
        "comment-field: anything; at all = ok\n"
        "mx:\tMX1.Example.ORG.\n"
        "mx: mx1.example.org\n"
        "max_age: 0"  # no final line break
    )
    assert parse_policy(text) == Policy(Mode.TESTING, ("mx1.example.org",), 0)


def test_policy_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 86400\n").mx == ()


def test_policy_max_age_bounds() -> None:
    base = "version: STSv1\nmode: none\nmax_age: "
    assert parse_policy(base + str(MAX_AGE_LIMIT)).max_age == 31_557_600
    assert parse_policy(base + "0000000001").max_age == 1
    for bad in (str(MAX_AGE_LIMIT + 1), "-1", "1e3", "12345678901", "", "１"):
        with pytest.raises(PolicyError, match="max_age"):
            parse_policy(base + bad)


@pytest.mark.parametrize("body, reason", [
    ("", "no version"),
    ("mode: enforce\nmx: a.example\nmax_age: 1\n", "no version"),
    ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version: 'STSv2'"),
    ("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version"),
    ("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n", "no mode"),
    ("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", "not enforce, testing or none"),
    ("version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"),
    ("version: STSv1\nmode: enforce\nmax_age: 1\n", "needs at least one mx"),
    ("version: STSv1\nmode: testing\nmax_age: 1\n", "needs at least one mx"),
    ("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1\n", "mode given twice"),
    ("version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", "line 2: expected 'key: value'"),
    (" version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", "line 1"),
    ("version: STSv1\nmode: enforce\r\r\nmx: a.example\nmax_age: 1\n", "line 2: control"),
    ("version: STSv1\nmode: enforce\nmx: mx*.example.com\nmax_age: 1\n", "mx: 'mx\\*.example.com'"),
    ("version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1\n", "mx:"),
    ("version: STSv1\nmode: enforce\nmx: mail..example.com\nmax_age: 1\n", "mx:"),
    ("version: STSv1\nmode: enforce\nmx: -mail.example.com\nmax_age: 1\n", "mx:"),
    ("version: STSv1\nmode: enforce\nmx: mail_1.example.com\nmax_age: 1\n", "mx:"),
    ("version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "mx:"),
    ("version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n", "mx:"),
])
def test_policy_malformed(body: str, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        parse_policy(body)


def test_policy_not_utf8() -> None:
    with pytest.raises(PolicyError, match="not UTF-8"):
        parse_policy(b"version: STSv1\nmode: none\nmax_age: 1\nx: \xff\n")


def test_policy_to_text_round_trip() -> None:
    policy = parse_policy(RFC_POLICY)
    assert policy.to_text() == RFC_POLICY
    assert parse_policy(Policy(Mode.NONE, (), 5).to_text()) == Policy(Mode.NONE, (), 5)


_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(
    st.sampled_from(list(Mode)),
    st.lists(st.tuples(st.booleans(), st.lists(_labels, min_size=1, max_size=4)), min_size=1),
    st.integers(0, MAX_AGE_LIMIT),
)
def test_policy_round_trip_property(
    mode: Mode, patterns: list[tuple[bool, list[str]]], max_age: int
) -> None:
    mx = tuple(dict.fromkeys(("*." if wild else "") + ".".join(labels) for wild, labels in patterns))
    policy = Policy(mode, mx, max_age)
    assert parse_policy(policy.to_text()) == policy


# --------------------------------------------------------------------------- MX patterns

@pytest.mark.parametrize("pattern, host, expected", [
    ("mail.example.com", "mail.example.com", True),
    ("mail.example.com", "MAIL.Example.COM", True),
    ("mail.example.com.", "mail.example.com", True),
    ("Mail.Example.com", "mail.example.com.", True),
    ("mail.example.com", "mail2.example.com", False),
    ("mail.example.com", "mail.example.com.evil.test", False),
    # RFC 8461 4.1: "*.example.com" matches "mail.example.com" only, not the domain itself nor
    # deeper names
    ("*.example.com", "mail.example.com", True),
    ("*.example.com", "MX-1.EXAMPLE.COM.", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "foo.bar.example.com", False),
    ("*.example.com", ".example.com", False),
    ("*.example.com", "evilexample.com", False),
    ("*.example.com", "mail.example.com.evil.test", False),
    ("*.example.com", "*.example.com", False),
    ("*", "example", False),
    ("*.", "a.", False),
    ("", "", False),
    ("mx*.example.com", "mx1.example.com", False),
])
def test_mx_matches(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected


@given(_labels, st.lists(_labels, min_size=1, max_size=4), _labels)
def test_wildcard_matches_exactly_one_label(label: str, domain: list[str], extra: str) -> None:
    rest = ".".join(domain)
    assert mx_matches(f"*.{rest}", f"{label}.{rest}")
    assert not mx_matches(f"*.{rest}", rest)
    assert not mx_matches(f"*.{rest}", f"{extra}.{label}.{rest}")


# --------------------------------------------------------------------------- cache decisions

POLICY = Policy(Mode.ENFORCE, ("mx.example.com",), 600)


def test_cache_without_policy() -> None:
    clock = FakeClock()
    assert cache_decision(None, None, clock.now()) is CacheAction.NO_POLICY
    assert cache_decision(None, "a", clock.now()) is CacheAction.REFETCH
    assert after_failed_fetch(None, clock.now()) is None


def test_cache_unexpired() -> None:
    clock = FakeClock()
    cached = CachedPolicy.fetched(POLICY, "a", clock.now())
    assert cached.expires_at == clock.now() + 600
    clock.advance(599)
    assert cache_decision(cached, "a", clock.now()) is CacheAction.USE_CACHED  # id unchanged
    assert cache_decision(cached, None, clock.now()) is CacheAction.USE_CACHED  # TXT failed/gone
    assert cache_decision(cached, "b", clock.now()) is CacheAction.REFETCH  # new id
    assert after_failed_fetch(cached, clock.now()) is cached  # a failed refetch keeps it


def test_cache_expired() -> None:
    clock = FakeClock()
    cached = CachedPolicy.fetched(POLICY, "a", clock.now())
    clock.advance(600)
    assert not cached.valid(clock.now())
    assert cache_decision(cached, "a", clock.now()) is CacheAction.REFETCH
    assert cache_decision(cached, None, clock.now()) is CacheAction.NO_POLICY
    assert after_failed_fetch(cached, clock.now()) is None


def test_cache_refreshes_long_lived_policies() -> None:
    clock = FakeClock()
    cached = CachedPolicy.fetched(Policy(Mode.ENFORCE, ("mx.example.com",), MAX_AGE_LIMIT),
                                  "a", clock.now())
    clock.advance(REFRESH_AFTER - 1)
    assert cache_decision(cached, "a", clock.now()) is CacheAction.USE_CACHED
    clock.advance(1)
    assert cache_decision(cached, "a", clock.now()) is CacheAction.REFETCH
    assert cache_decision(cached, None, clock.now()) is CacheAction.USE_CACHED
    assert cache_decision(cached, "a", clock.now(), refresh_after=2 * REFRESH_AFTER) is \
        CacheAction.USE_CACHED
    assert after_failed_fetch(cached, clock.now()) is cached


# --------------------------------------------------------------------------- apply

MX = ("mx1.example.com", "relay.elsewhere.test", "mx2.example.net")
MIXED = Policy(Mode.ENFORCE, ("mx1.example.com", "*.example.net"), 600)


def test_apply_enforce_keeps_matching_hosts_and_requires_verified_tls() -> None:
    decision = apply(MIXED, MX)
    assert decision.hosts == ("mx1.example.com", "mx2.example.net")
    assert decision.tls == "verify"
    assert decision.mismatched == ("relay.elsewhere.test",)
    assert not decision.blocked
    assert "relay.elsewhere.test not allowed" in decision.reason
    assert "*.example.net" in decision.reason


def test_apply_enforce_without_a_matching_host_blocks() -> None:
    decision = apply(MIXED, ("relay.elsewhere.test", "example.net"))
    assert decision.hosts == () and decision.blocked and decision.tls == "verify"
    assert decision.mismatched == ("relay.elsewhere.test", "example.net")
    assert NO_MATCH_STATUS.startswith("4.")  # temporary: delivery must wait, never bounce


def test_apply_testing_uses_every_host_and_reports() -> None:
    decision = apply(Policy(Mode.TESTING, MIXED.mx, 600), MX)
    assert decision.hosts == MX and decision.tls is None and not decision.blocked
    assert decision.mismatched == ("relay.elsewhere.test",)
    assert "would fail (testing)" in decision.reason


@pytest.mark.parametrize("policy", [None, Policy(Mode.NONE, (), 600),
                                    Policy(Mode.NONE, ("other.test",), 600)])
def test_apply_none_changes_nothing(policy: Policy | None) -> None:
    decision = apply(policy, MX)
    assert decision.hosts == MX and decision.tls is None
    assert decision.mismatched == () and decision.reason == "" and not decision.blocked
    assert decision.mode is (policy.mode if policy else None)
