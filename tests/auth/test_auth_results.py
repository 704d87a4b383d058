"""Authentication-Results (auth/results.py): model, rendering, parsing, removal."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.auth.results import (
    AuthenticationResults,
    AuthResultsSyntaxError,
    MethodResult,
    Property,
    authserv_id_of,
    parse,
    remove_own_results,
)


def field_value(field: bytes) -> str:
    name, colon, value = field.decode().partition(":")
    assert (name, colon) == ("Authentication-Results", ":") and field.endswith(b"\r\n")
    return value


# RFC 8601 Appendix B, as printed (line breaks are folds)
B2 = "example.org 1; none"
B3 = "example.com;\r\n                  spf=pass smtp.mailfrom=example.net"
B4 = [
    "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
    "          spf=pass smtp.mailfrom=example.net",
    "example.com; iprev=pass\r\n          policy.iprev=192.0.2.200",
]
B5 = [
    "example.com;\r\n          dkim=pass (good signature) header.d=example.com",
    "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n"
    "          spf=fail smtp.mailfrom=example.com",
]
B6 = [
    "example.com;\r\n    dkim=pass reason=\"good signature\"\r\n"
    "      header.i=@mail-router.example.net;\r\n    dkim=fail reason=\"bad signature\"\r\n"
    "      header.i=@newyork.example.com",
    "example.net;\r\n    dkim=pass (good signature) header.i=@newyork.example.com",
]
B7 = (
    "foo.example.net (foobar) 1 (baz);\r\n"
    "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
    "      policy (A dot can go here) . (like that) expired\r\n"
    "      (this surprised me) = (as I wasn't expecting it) 1362471462"
)


def test_rfc8601_b2_no_results() -> None:
    ar = parse(B2)
    assert ar == AuthenticationResults("example.org", (), version=1)
    assert ar.render() == b"Authentication-Results: example.org 1; none\r\n"


def test_rfc8601_b3_and_b4() -> None:
    assert parse(B3) == AuthenticationResults(
        "example.com", (MethodResult("spf", "pass", properties=(Property("smtp", "mailfrom", "example.net"),)),))
    auth, spf = parse(B4[0]).results
    assert (auth.method, auth.result, auth.comment) == ("auth", "pass", "cram-md5")
    assert auth.get("smtp", "auth") == "sender@example.net"
    assert spf.get("SMTP", "MailFrom") == "example.net"
    (iprev,) = parse(B4[1]).results
    assert iprev.get("policy", "iprev") == "192.0.2.200"


def test_rfc8601_b5_and_b6() -> None:
    (dkim,) = parse(B5[0]).results
    assert (dkim.comment, dkim.get("header", "d")) == ("good signature", "example.com")
    assert [r.result for r in parse(B5[1]).results] == ["pass", "fail"]
    good, bad = parse(B6[0]).results
    assert (good.reason, good.get("header", "i")) == ("good signature", "@mail-router.example.net")
    assert (bad.reason, bad.get("header", "i")) == ("bad signature", "@newyork.example.com")
    assert parse(B6[1]).authserv_id == "example.net"


def test_rfc8601_b7_comments_everywhere() -> None:
    ar = parse(B7)
    assert (ar.authserv_id, ar.version) == ("foo.example.net", 1)
    (dkim,) = ar.results
    assert (dkim.method, dkim.version, dkim.result) == ("dkim", 1, "fail")
    assert dkim.properties == (Property("policy", "expired", "1362471462"),)
    assert ar.value == "foo.example.net 1; dkim/1=fail policy.expired=1362471462"


@pytest.mark.parametrize("value", [B2, B3, *B4, *B5, *B6, B7])
def test_rfc_examples_round_trip(value: str) -> None:
    ar = parse(value)
    assert parse(field_value(ar.render())) == ar
    assert parse(ar.value) == ar


def test_rendering_folds_and_quotes() -> None:
    ar = AuthenticationResults("mx.example.org", (
        MethodResult("spf", "pass", properties=(Property("smtp", "mailfrom", "bounce+x=y@example.com"),)),
        MethodResult("dkim", "pass", properties=(
            Property("header", "d", "example.com"), Property("header", "s", "sel2024"),
            Property("header", "b", "Iww3/TIU"), Property("header", "i", "@example.com"))),
        MethodResult("dmarc", "fail", reason='from "nowhere"; said (so)',
                     comment="p=reject dis=quarantine (pct)",
                     properties=(Property("header", "from", "example.com"),)),
        MethodResult("x-local", "pass", properties=(Property("policy", "note", ""),)),
    ))
    field = ar.render()
    assert field == (
        b"Authentication-Results: mx.example.org;\r\n"
        b"\tspf=pass smtp.mailfrom=bounce+x=y@example.com;\r\n"
        b"\tdkim=pass header.d=example.com header.s=sel2024 header.b=\"Iww3/TIU\"\r\n"
        b"\t\theader.i=@example.com;\r\n"
        b"\tdmarc=fail (p=reject dis=quarantine \\(pct\\))\r\n"
        b"\t\treason=\"from \\\"nowhere\\\"; said (so)\" header.from=example.com;\r\n"
        b"\tx-local=pass policy.note=\"\"\r\n"
    )
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert parse(field_value(field)) == ar


def test_quoted_authserv_id_and_non_ascii() -> None:
    ar = AuthenticationResults("mx example", (
        MethodResult("auth", "pass", properties=(Property("smtp", "auth", "jörg@bücher.example"),)),))
    assert ar.value == '"mx example"; auth=pass smtp.auth="jörg@bücher.example"'
    assert parse(ar.render()[len("Authentication-Results:"):]) == ar


def test_model_refuses_header_injection_and_bad_keywords() -> None:
    with pytest.raises(ValueError):
        MethodResult("spf", "pass", reason="x\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        Property("smtp", "mailfrom", "a\nb")
    with pytest.raises(ValueError):
        MethodResult("spf=pass; dkim", "pass")
    with pytest.raises(ValueError):
        AuthenticationResults("")
    assert MethodResult("DKIM", "Pass").method == "dkim"


def test_lenient_values_real_fields_use() -> None:
    ar = parse('"mx.google.com";\r\n dkim=pass header.i=@example.com header.b=ab/c+d= (comment);'
               " spf=pass (google.com: domain of a@example.com) smtp.mailfrom=a@example.com;"
               " iprev=pass policy.iprev=2001:db8::1; futuremethod=whatever x.y=z;")
    dkim, spf, iprev, future = ar.results
    assert dkim.get("header", "b") == "ab/c+d="
    assert spf.comment == "google.com: domain of a@example.com"
    assert iprev.get("policy", "iprev") == "2001:db8::1"
    assert (future.method, future.get("x", "y")) == ("futuremethod", "z")


@pytest.mark.parametrize("value", [
    "", "example.com", "example.com spf=pass", "example.com; spf", "example.com; spf=",
    "example.com; spf=pass smtp", "example.com; none; spf=pass", "example.com; spf=pass (open",
    'example.com; spf=pass reason="open', "example.com; dkim/x=pass", "; spf=pass",
])
def test_syntax_errors(value: str) -> None:
    with pytest.raises(AuthResultsSyntaxError):
        parse(value)


_KEYWORDS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
_TEXT = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
                max_size=40)


@given(st.lists(st.builds(
    MethodResult, _KEYWORDS, _KEYWORDS, st.none() | _TEXT,
    st.lists(st.builds(Property, _KEYWORDS, _KEYWORDS, _TEXT), max_size=4).map(tuple),
    st.none() | _TEXT.map(lambda t: " ".join(t.split())), st.none() | st.integers(0, 9),
), max_size=4), _TEXT.filter(lambda t: bool(t.strip()) and t == t.strip()))
def test_render_parse_round_trip(results: list[MethodResult], authserv_id: str) -> None:
    results = [r for r in results if r.method != "none"]
    ar = AuthenticationResults(authserv_id, tuple(results))
    assert parse(field_value(ar.render())) == ar


MESSAGE = (
    b"Received: from a.example\r\n"
    b"Authentication-Results: MX.Example.ORG; spf=pass smtp.mailfrom=forged.example\r\n"
    b"authentication-results : (sneaky) mx.example.org.;\r\n dkim=pass header.d=forged.example\r\n"
    b"Authentication-Results: \"mx.example.org\"; none\r\n"
    b"Authentication-Results: relay.example.net; spf=fail smtp.mailfrom=x.example\r\n"
    b"Authentication-Results: mx.example.org.evil.example; none\r\n"
    b"Subject: Authentication-Results: mx.example.org; none\r\n"
    b"\r\n"
    b"Authentication-Results: mx.example.org; none\r\n"
)


def test_remove_own_results_keeps_everything_else() -> None:
    cleaned = remove_own_results(MESSAGE, "mx.example.org")
    assert cleaned == (
        b"Received: from a.example\r\n"
        b"Authentication-Results: relay.example.net; spf=fail smtp.mailfrom=x.example\r\n"
        b"Authentication-Results: mx.example.org.evil.example; none\r\n"
        b"Subject: Authentication-Results: mx.example.org; none\r\n"
        b"\r\n"
        b"Authentication-Results: mx.example.org; none\r\n"
    )
    assert remove_own_results(cleaned, "mx.example.org") == cleaned
    assert remove_own_results(MESSAGE, "other.example") == MESSAGE
    assert authserv_id_of(" (c) \"a b\"; none") == "a b" and authserv_id_of("(open") is None


def test_remove_own_results_from_messages_without_body_or_header() -> None:
    only_header = b"Authentication-Results: mx.example.org; none\r\nSubject: x"
    assert remove_own_results(only_header, "mx.example.org") == b"Subject: x"
    assert remove_own_results(b"\r\nbody", "mx.example.org") == b"\r\nbody"
    all_ours = b"Authentication-Results: mx.example.org; none\r\n\r\nbody"
    assert remove_own_results(all_ours, "mx.example.org") == b"\r\nbody"
