"""The formatter: status lines, data rendering, and round trips through the scanner."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.proto.imap import responses as r
from postoffice.proto.imap.scanner import Scanner
from postoffice.proto.imap.values import decode_mailbox


def test_status_lines() -> None:
    assert r.tagged("a1", "OK", "LOGIN completed") == b"a1 OK LOGIN completed\r\n"
    assert r.tagged("a2", "NO", "Too big", r.code("TOOBIG")) == b"a2 NO [TOOBIG] Too big\r\n"
    code = r.code("PERMANENTFLAGS", (r.Atom("\\Seen"), r.Atom("\\*")))
    assert r.untagged_status("OK", "Limited", code) == b"* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n"
    assert r.untagged_status("BYE", "") == b"* BYE BYE\r\n"
    assert r.continuation() == b"+ \r\n"
    with pytest.raises(ValueError):
        r.tagged("a", "MAYBE", "x")
    with pytest.raises(ValueError):
        r.tagged("a", "OK", "two\r\nlines")


def test_untagged_data() -> None:
    assert r.untagged(23, r.Atom("EXISTS")) == b"* 23 EXISTS\r\n"
    line = r.untagged(r.Atom("LIST"), (r.Atom("\\HasNoChildren"),), "/", r.Mailbox("Entwürfe"))
    assert line == b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n'
    utf8 = r.untagged(r.Atom("LIST"), (), "/", r.Mailbox("Entwürfe"), utf8=True)
    assert utf8 == '* LIST () "/" "Entwürfe"\r\n'.encode()
    assert r.untagged(1, r.Atom("FETCH"), (r.Atom("BODY[]"), None)) == b"* 1 FETCH (BODY[] NIL)\r\n"


def test_quoted_or_literal() -> None:
    assert r.string('say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert r.string(b"a\r\nb") == b"{4}\r\na\r\nb"
    assert r.string("Bücher") == b"{7}\r\n" + "Bücher".encode()
    assert r.string("Bücher", utf8=True) == '"Bücher"'.encode()
    assert r.string("x" * 2000).startswith(b"{2000}\r\n")


@given(st.binary(max_size=300).filter(lambda b: b"\0" not in b))
def test_strings_round_trip(raw: bytes) -> None:
    assert Scanner(r.string(raw)).string() == raw


# Names arrive decoded from UTF-8 or modified UTF-7, so they never hold lone surrogates.
@given(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
               max_size=40), st.booleans())
def test_mailbox_names_round_trip(name: str, utf8: bool) -> None:
    scanner = Scanner(r.render(r.Mailbox(name), utf8))
    decoded = decode_mailbox(scanner.astring(), utf8)
    assert decoded == ("INBOX" if name.upper() == "INBOX" else name)
