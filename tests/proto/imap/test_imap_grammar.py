"""Command lines as real clients send them, parsed per RFC 9051."""

from datetime import date, datetime, timedelta, timezone

import pytest

from postoffice.proto.imap import commands as c
from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.fetch import FetchAttribute, Section
from postoffice.proto.imap.grammar import parse_command, peek_tag
from postoffice.proto.imap.search import And, Criterion, Not, Or, Sequence
from postoffice.proto.imap.values import SequenceSet


def parse(line: bytes, utf8: bool = False) -> c.Command:
    return parse_command(line, utf8)


@pytest.mark.parametrize("line", [
    b"1 capability", b"A001 NOOP", b"a LOGOUT", b"2 STARTTLS", b"6 namespace", b"7 IDLE",
    b"x CLOSE", b"x UNSELECT", b"x EXPUNGE",
])
def test_commands_without_arguments(line: bytes) -> None:
    command = parse(line)
    assert command.name == line.split()[1].decode().upper()
    assert command.arguments == c.Arguments()


def test_imaplib_login_quotes_password() -> None:
    command = parse(b'a001 LOGIN alice "p\\"a\\\\ss word"')
    assert command.arguments == c.Login("alice", 'p"a\\ss word')


def test_login_with_literal_password() -> None:
    command = parse(b"A2 LOGIN {5}\r\nalice {4}\r\n{ }x")
    assert command.arguments == c.Login("alice", "{ }x")


def test_authenticate_sasl_ir() -> None:
    plain = parse(b"A3 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==").arguments
    assert plain == c.Authenticate("PLAIN", b"\0alice\0secret")
    assert parse(b"A4 authenticate xoauth2").arguments == c.Authenticate("XOAUTH2")
    assert parse(b"A5 AUTHENTICATE EXTERNAL =").arguments == c.Authenticate("EXTERNAL", b"")
    with pytest.raises(GrammarError):
        parse(b"A6 AUTHENTICATE PLAIN not*base64")


def test_enable() -> None:
    assert parse(b"t1 ENABLE CONDSTORE utf8=accept").arguments == \
        c.Enable(("CONDSTORE", "UTF8=ACCEPT"))


def test_thunderbird_select_with_condstore() -> None:
    command = parse(b'5 select "INBOX" (CONDSTORE)')
    assert command.arguments == c.Mailbox("INBOX", (("CONDSTORE", None),))


def test_qresync_select_parameters() -> None:
    command = parse(b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert command.arguments == c.Mailbox(
        "INBOX", (("QRESYNC", ("67890007", "20050715194045000", "41,43:211,214:541")),))


def test_mailbox_names_decode_per_mode() -> None:
    assert parse(b'a CREATE "Entw&APw-rfe"').arguments == c.Mailbox("Entwürfe")
    assert parse('a CREATE "Entwürfe"'.encode(), utf8=True).arguments == c.Mailbox("Entwürfe")
    assert parse(b"a examine inbox").arguments == c.Mailbox("INBOX")
    assert parse(b'a RENAME "Old" "New/Sub"').arguments == c.Rename("Old", "New/Sub")


def test_lists() -> None:
    assert parse(b'3 list "" "*"').arguments == c.List("", ("*",))
    assert parse(b"4 LSUB \"\" %").arguments == c.List("", ("%",))
    outlook = parse(b'5 LIST "" "*" RETURN (SPECIAL-USE SUBSCRIBED)').arguments
    assert outlook == c.List("", ("*",), (), ("SPECIAL-USE", "SUBSCRIBED"), extended=True)
    apple = parse(b'6 LIST (SPECIAL-USE) "" "*"').arguments
    assert apple == c.List("", ("*",), ("SPECIAL-USE",), extended=True)


def test_list_extended_with_status() -> None:
    command = parse(b'A01 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Sent%") '
                    b"RETURN (CHILDREN STATUS (MESSAGES UNSEEN))")
    assert command.arguments == c.List("", ("INBOX", "Sent%"), ("SUBSCRIBED", "RECURSIVEMATCH"),
                                       ("CHILDREN", "STATUS"), ("MESSAGES", "UNSEEN"), True)


def test_status() -> None:
    command = parse(b'8 STATUS "Sent" (MESSAGES UIDNEXT UNSEEN HIGHESTMODSEQ)')
    assert command.arguments == c.Status("Sent", ("MESSAGES", "UIDNEXT", "UNSEEN", "HIGHESTMODSEQ"))


def test_append_with_flags_date_and_literal() -> None:
    command = parse(b'A003 APPEND saved-messages (\\Seen $Forwarded) "05-Jan-2024 10:01:02 +0100" '
                    b"{11+}\r\nhello world")
    message = command.arguments.messages[0]  # type: ignore[attr-defined]
    assert message.flags == ("\\Seen", "$Forwarded")
    assert message.date_time == datetime(2024, 1, 5, 10, 1, 2,
                                         tzinfo=timezone(timedelta(hours=1)))
    assert message.data == b"hello world"


def test_append_minimal_binary_and_multiappend() -> None:
    assert parse(b"a APPEND Drafts {2}\r\nhi").arguments == \
        c.Append("Drafts", (c.AppendMessage((), None, b"hi"),))
    binary = parse(b"a APPEND Drafts () ~{3}\r\n\0\1\2").arguments
    assert binary == c.Append("Drafts", (c.AppendMessage((), None, b"\0\1\2", True),))
    multi = parse(b"a APPEND Sent (\\Seen) {1}\r\nx {1}\r\ny").arguments
    assert len(multi.messages) == 2  # type: ignore[attr-defined]


def test_fetch_macros_and_thunderbird_headers() -> None:
    fast = parse(b"1 FETCH 1:* FAST").arguments
    assert [a.name for a in fast.attributes] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]  # type: ignore[attr-defined]
    full = parse(b"1 fetch 1 full").arguments
    assert [a.name for a in full.attributes][-2:] == ["ENVELOPE", "BODY"]  # type: ignore[attr-defined]
    tb = parse(b"7 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS "
               b"(From To Cc Bcc Subject Date Message-ID Priority X-Priority References "
               b"Newsgroups In-Reply-To Content-Type Reply-To)])")
    assert tb.uid and tb.name == "FETCH"
    header = tb.arguments.attributes[3]  # type: ignore[attr-defined]
    assert header.peek and header.section.text == "HEADER.FIELDS"
    assert header.section.fields[:3] == ("From", "To", "Cc")


def test_fetch_sections_and_partials() -> None:
    command = parse(b"a UID FETCH 4827313:4828442 (BODY[1.2.MIME] BODY[]<0.2048> "
                    b"BINARY.PEEK[2]<100.50> BINARY.SIZE[1] BODY[HEADER.FIELDS.NOT (X-Spam)] "
                    b"BODY[3.TEXT] BODYSTRUCTURE) (CHANGEDSINCE 12345)")
    attrs = command.arguments.attributes  # type: ignore[attr-defined]
    assert attrs[0] == FetchAttribute("BODY", Section((1, 2), "MIME"))
    assert attrs[1] == FetchAttribute("BODY", Section(), (0, 2048))
    assert attrs[2] == FetchAttribute("BINARY", Section((2,)), (100, 50), peek=True)
    assert attrs[3] == FetchAttribute("BINARY.SIZE", Section((1,)))
    assert attrs[4] == FetchAttribute("BODY", Section((), "HEADER.FIELDS.NOT", ("X-Spam",)))
    assert attrs[5] == FetchAttribute("BODY", Section((3,), "TEXT"))
    assert command.arguments.modifiers == (("CHANGEDSINCE", 12345),)  # type: ignore[attr-defined]


def test_sequence_sets() -> None:
    command = parse(b"a COPY 1:*,5,7:9 Trash")
    seq = command.arguments.sequence  # type: ignore[attr-defined]
    assert seq == SequenceSet(((1, None), (5, 5), (7, 9)))
    assert seq.contains(12, largest=12) and not seq.contains(0, largest=12)
    assert SequenceSet(((None, 3),)).contains(4, largest=5)
    assert parse(b"a UID MOVE $ Archive").arguments == c.Transfer(SequenceSet(saved=True), "Archive")
    for bad in (b"a COPY 0 Trash", b"a COPY 1:: Trash", b"a COPY 1,,2 Trash", b"a COPY 4294967296 T"):
        with pytest.raises(GrammarError):
            parse(bad)


def test_store_forms() -> None:
    mutt = parse(b"a0012 UID STORE 15 +FLAGS.SILENT (\\Deleted)").arguments
    assert mutt == c.Store(SequenceSet(((15, 15),)), "+", True, ("\\Deleted",))
    bare = parse(b"a STORE 1:3 -FLAGS \\seen $Junk").arguments
    assert bare == c.Store(SequenceSet(((1, 3),)), "-", False, ("\\Seen", "$Junk"))
    cond = parse(b"a STORE 7 (UNCHANGEDSINCE 320162338) FLAGS ()").arguments
    assert cond == c.Store(SequenceSet(((7, 7),)), "", False, (), (("UNCHANGEDSINCE", 320162338),))


def test_uid_expunge_and_bad_uid_command() -> None:
    assert parse(b"a UID EXPUNGE 3000:3002").arguments == c.Expunge(SequenceSet(((3000, 3002),)))
    with pytest.raises(GrammarError):
        parse(b"a UID SELECT INBOX")


def test_search_tree() -> None:
    command = parse(b'a SEARCH CHARSET UTF-8 OR FROM "smith" NOT (SEEN SINCE 1-Feb-1994) '
                    b"UID 1:5 HEADER X-Foo bar LARGER 1000")
    assert command.arguments == c.Search(And((
        Or(Criterion("FROM", "smith"),
           Not(And((Criterion("SEEN"), Criterion("SINCE", date(1994, 2, 1)))))),
        Sequence(SequenceSet(((1, 5),)), uid=True),
        Criterion("HEADER", ("X-Foo", "bar")),
        Criterion("LARGER", 1000),
    )), "UTF-8")


def test_search_client_forms() -> None:
    imapclient = parse(b"a UID SEARCH UNDELETED SINCE \"05-Jan-2024\"").arguments
    assert imapclient == c.Search(And((Criterion("UNDELETED"), Criterion("SINCE", date(2024, 1, 5)))))
    esearch = parse(b"a UID SEARCH RETURN (MIN MAX COUNT) 1:* KEYWORD $Junk").arguments
    assert esearch.returns == ("MIN", "MAX", "COUNT")  # type: ignore[attr-defined]
    assert parse(b"a SEARCH ALL").arguments == c.Search(Criterion("ALL"))
    literal = parse("a SEARCH CHARSET UTF-8 SUBJECT {7}\r\nBücher".encode()).arguments
    assert literal == c.Search(Criterion("SUBJECT", "Bücher"), "UTF-8")


@pytest.mark.parametrize("line", [
    b"", b"a", b"a NOSUCH", b"+ NOOP", b"a NOOP extra", b"a SELECT", b"a LOGIN alice",
    b'a LOGIN "unterminated', b'a LOGIN "bad\\escape" x', b"a FETCH 1 (FLAGS", b"a FETCH 1 BOGUS",
    b"a FETCH 1 BODY[0]", b"a FETCH 1 BODY[MIME]", b"a SEARCH FROM", b"a SEARCH NOSUCHKEY",
    b"a SEARCH SINCE 32-Jan-2024", b"a STORE 1 FLAGZ (\\Seen)", b"a APPEND INBOX",
    b'a APPEND INBOX "bad date" {1}\r\nx', b"a LOGIN {5}\r\nabc", b"a  NOOP",
    b"a SEARCH CHARSET X-NOSUCH TEXT foo",
])
def test_syntax_errors(line: bytes) -> None:
    with pytest.raises(GrammarError):
        parse(line)


def test_nesting_depth_limit() -> None:
    deep = b"a SEARCH " + b"(" * 5 + b"ALL" + b")" * 5
    assert parse_command(deep, max_depth=5).name == "SEARCH"
    with pytest.raises(GrammarError, match="nested"):
        parse_command(deep, max_depth=4)


def test_peek_tag() -> None:
    assert peek_tag(b"A001 FOO") == "A001"
    assert peek_tag(b"+ x") is None and peek_tag(b"nospace") is None and peek_tag(b"a{b c") is None
