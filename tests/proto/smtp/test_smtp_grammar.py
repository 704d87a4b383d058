"""RFC 5321/6531 command-line grammar: verbs, paths, ESMTP parameters, xtext."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.proto.smtp import grammar as g
from postoffice.proto.smtp.grammar import GrammarError


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [
        (b"MAIL FROM:<a@b>", "MAIL", "FROM:<a@b>"),
        (b"mail from:<a@b>  ", "MAIL", "from:<a@b>"),
        (b"QUIT", "QUIT", ""),
        (b"EHLO  [192.0.2.1]", "EHLO", "[192.0.2.1]"),
        (b"X-CUSTOM a", "X-CUSTOM", "a"),
    ],
)
def test_parse_command(line: bytes, verb: str, argument: str) -> None:
    assert g.parse_command(line) == g.Command(verb, argument)


@pytest.mark.parametrize(
    "line", [b"", b" NOOP", b"\x00", b"NO\x00OP", b"NOOP\r", b"\xff", b"1234", b"N\xc3\xa4OP"]
)
def test_parse_command_rejects(line: bytes) -> None:
    with pytest.raises(GrammarError) as info:
        g.parse_command(line)
    assert (info.value.reply.code, info.value.reply.status) == (500, "5.5.2")


@pytest.mark.parametrize(
    ("text", "address", "route", "utf8"),
    [
        ("<a@example.org>", "a@example.org", (), False),
        ("<first.last+tag@sub.example.org>", "first.last+tag@sub.example.org", (), False),
        ('<"john doe"@example.org>', '"john doe"@example.org', (), False),
        ('<"a\\"b>c"@example.org>', '"a\\"b>c"@example.org', (), False),
        ("<a@[192.0.2.1]>", "a@[192.0.2.1]", (), False),
        ("<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", (), False),
        ("<a@[IPv6:::ffff:192.0.2.1]>", "a@[IPv6:::ffff:192.0.2.1]", (), False),
        ("<a@[x-tag:anything]>", "a@[x-tag:anything]", (), False),
        ("<@a.example,@b.example:u@c.example>", "u@c.example", ("a.example", "b.example"), False),
        ("<jørn@exämple.org>", "jørn@exämple.org", (), True),
        ('<"ü b"@example.org>', '"ü b"@example.org', (), True),
    ],
)
def test_parse_path(text: str, address: str, route: tuple[str, ...], utf8: bool) -> None:
    path, rest = g.parse_path(text + " SIZE=1")
    assert (path.address, path.source_route, path.utf8, rest) == (address, route, utf8, " SIZE=1")


@pytest.mark.parametrize(
    "text",
    [
        "a@example.org",
        "<a@example.org",
        "<>",
        "<a>",
        "<@example.org>",
        "<a@>",
        "<a..b@example.org>",
        "<.a@example.org>",
        "<a.@example.org>",
        "<a b@example.org>",
        "<a@-example.org>",
        "<a@example-.org>",
        "<a@exa_mple.org>",
        "<a@example..org>",
        "<a@[256.1.1.1]>",
        "<a@[1.2.3]>",
        "<a@[IPv6:2001:db8::g]>",
        "<a@[IPv6:fe80::1%eth0]>",
        "<a@[IPv6:1.2.3.4]>",
        "<a@[foo]>",
        '<"unterminated@example.org>',
        "<a@b@example.org>",
        "<@a.example:>",
        "<@-a.example:u@c.example>",
    ],
)
def test_parse_path_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        g.parse_path(text)


def test_null_and_postmaster_paths() -> None:
    assert g.parse_path("<>", null_ok=True)[0].mailbox is None
    assert g.parse_path("<POSTMASTER>", postmaster_ok=True)[0].address == "POSTMASTER"
    with pytest.raises(ValueError):
        g.parse_path("<postmaster>")


def test_parse_mail() -> None:
    parsed = g.parse_mail("FROM: <a@example.org> size=100 body=8BITMIME SMTPUTF8 ret=full")
    assert parsed.path.address == "a@example.org"
    assert parsed.params == {"SIZE": "100", "BODY": "8BITMIME", "SMTPUTF8": None, "RET": "FULL"}
    route = g.parse_mail("FROM:<@relay.example:a@example.org>")
    assert (route.path.address, route.path.source_route) == ("a@example.org", ())
    assert g.parse_mail("from:<>").path.address == ""


@pytest.mark.parametrize(
    ("argument", "code", "status"),
    [
        ("TO:<a@example.org>", 501, "5.5.4"),
        ("FROM <a@example.org>", 501, "5.5.4"),
        ("FROM:<a@example.org>x", 501, "5.1.7"),
        ("FROM:a@example.org", 501, "5.1.7"),
        ("FROM:<a@example.org> SIZE", 555, "5.5.4"),
        ("FROM:<a@example.org> SIZE=", 555, "5.5.4"),
        ("FROM:<a@example.org> SIZE=12k", 555, "5.5.4"),
        ("FROM:<a@example.org> SIZE=１２", 555, "5.5.4"),
        ("FROM:<a@example.org> SIZE=1 SIZE=1", 555, "5.5.4"),
        ("FROM:<a@example.org> size=1 SIZE=2", 555, "5.5.4"),
        ("FROM:<a@example.org> BODY=BINARYMIME", 555, "5.5.4"),
        ("FROM:<a@example.org> SMTPUTF8=yes", 555, "5.5.4"),
        ("FROM:<a@example.org> RET=ALL", 555, "5.5.4"),
        ("FROM:<a@example.org> ENVID=a+zz", 555, "5.5.4"),
        ("FROM:<a@example.org> AUTH=", 555, "5.5.4"),
        ("FROM:<a@example.org> NOTIFY=NEVER", 555, "5.5.4"),
        ("FROM:<a@example.org> X-FOO=bar", 555, "5.5.4"),
        ("FROM:<a@example.org> =x", 555, "5.5.4"),
        ("FROM:<a@example.org> -A=x", 555, "5.5.4"),
        ("FROM:<a@example.org> A=b=c", 555, "5.5.4"),
    ],
)
def test_parse_mail_rejects(argument: str, code: int, status: str) -> None:
    with pytest.raises(GrammarError) as info:
        g.parse_mail(argument)
    assert (info.value.reply.code, info.value.reply.status) == (code, status)


def test_extension_params_follow_the_offer() -> None:
    with pytest.raises(GrammarError):
        g.parse_mail("FROM:<a@example.org> SMTPUTF8", smtputf8=False)
    with pytest.raises(GrammarError):
        g.parse_mail("FROM:<a@example.org> RET=FULL", dsn=False)
    with pytest.raises(GrammarError):
        g.parse_rcpt("TO:<a@example.org> NOTIFY=NEVER", dsn=False)
    with pytest.raises(GrammarError):
        g.parse_mail("FROM:<a@example.org> SIZE=1", esmtp=False)
    assert g.parse_mail("FROM:<a@example.org>", esmtp=False).params == {}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("NOTIFY=never", {"NOTIFY": "NEVER"}),
        ("NOTIFY=success,Failure,DELAY", {"NOTIFY": "SUCCESS,FAILURE,DELAY"}),
        ("ORCPT=rfc822;a+40example.org", {"ORCPT": "rfc822;a+40example.org"}),
        ("ORCPT=utf-8;jørn@example.org", {"ORCPT": "utf-8;jørn@example.org"}),
    ],
)
def test_parse_rcpt_params(params: str, expected: dict[str, str]) -> None:
    assert g.parse_rcpt(f"TO:<a@example.org> {params}").params == expected


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ("NOTIFY=NEVER,SUCCESS", 501),
        ("NOTIFY=SUCCESS,NEVER", 501),
        ("NOTIFY=", 555),
        ("NOTIFY", 555),
        ("NOTIFY=SOMETIMES", 555),
        ("NOTIFY=SUCCESS,SUCCESS", 555),
        ("NOTIFY=SUCCESS,", 555),
        ("ORCPT=rfc822", 555),
        ("ORCPT=;a@b", 555),
        ("ORCPT=rfc822;", 555),
        ("ORCPT=rfc822;a+4", 555),
        ("SIZE=10", 555),
    ],
)
def test_parse_rcpt_rejects(params: str, code: int) -> None:
    with pytest.raises(GrammarError) as info:
        g.parse_rcpt(f"TO:<a@example.org> {params}")
    assert info.value.reply.code == code


def test_parse_rcpt_postmaster_and_errors() -> None:
    assert g.parse_rcpt("TO:<postmaster>").path.address == "postmaster"
    with pytest.raises(GrammarError) as info:
        g.parse_rcpt("TO:<>")
    assert info.value.reply.status == "5.1.3"


@pytest.mark.parametrize(
    ("argument", "expected"),
    [("0", (0, False)), ("0 LAST", (0, True)), ("1024  last", (1024, True)), ("007", (7, False))],
)
def test_parse_bdat(argument: str, expected: tuple[int, bool]) -> None:
    assert g.parse_bdat(argument) == expected


@pytest.mark.parametrize("argument", ["", "x", "-1", "1 FIRST", "1 LAST x", "1" * 19, "١"])
def test_parse_bdat_rejects(argument: str) -> None:
    with pytest.raises(GrammarError):
        g.parse_bdat(argument)


@pytest.mark.parametrize(
    ("xtext", "text"),
    [("", ""), ("abc", "abc"), ("a+2Bb+3Dc", "a+b=c"), ("+20", " "), ("+C3+A9", "é")],
)
def test_xtext(xtext: str, text: str) -> None:
    assert g.xtext_decode(xtext) == text
    assert g.xtext_encode(text) == xtext


@pytest.mark.parametrize("bad", ["a+", "a+2", "a+zz", "a=b", "a b", "é", "+FF"])
def test_xtext_decode_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        g.xtext_decode(bad)


@given(st.text())
def test_xtext_round_trip(text: str) -> None:
    encoded = g.xtext_encode(text)
    assert encoded.isascii() and " " not in encoded and "=" not in encoded
    assert g.xtext_decode(encoded) == text


def test_address_literals() -> None:
    assert g.valid_address_literal("[0.0.0.0]")
    assert g.valid_address_literal("[255.255.255.255]")
    assert not g.valid_address_literal("[１.2.3.4]")
    assert g.valid_address_literal("[IPv6:::]")
    assert g.valid_address_literal("[ipv6:2001:DB8::1]")
