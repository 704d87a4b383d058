"""Framing: lines, literals, continuations, limits, and splitting the input anywhere."""

from hypothesis import given
from hypothesis import strategies as st

from postoffice.proto.imap.commands import Authenticate, Command, Login
from postoffice.proto.imap.errors import ParseError, Severity
from postoffice.proto.imap.events import NEED_DATA, ClientLine, NeedContinuation, ParserEvent
from postoffice.proto.imap.parser import CommandParser

STREAM = (b"a1 CAPABILITY\r\n"
          b"a2 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n"
          b'a3 SELECT "INBOX"\n'
          b"a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n"
          b"a5 APPEND Sent (\\Seen) {12+}\r\nline1\r\nline2\r\n"
          b"a6 bogus\r\n"
          b"a7 LOGOUT\r\n")


def drain(parser: CommandParser) -> list[ParserEvent]:
    events = []
    while (event := parser.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def feed_all(data: bytes, parser: CommandParser | None = None) -> list[ParserEvent]:
    parser = parser or CommandParser()
    parser.feed(data)
    return drain(parser)


def test_stream_of_commands() -> None:
    events = feed_all(STREAM)
    assert [getattr(e, "name", None) for e in events] == [
        "CAPABILITY", "LOGIN", "SELECT", "FETCH", "APPEND", None, "LOGOUT"]
    assert events[1] == Command("a2", "LOGIN", Login("alice", "secret"))
    assert events[4].arguments.messages[0].data == b"line1\r\nline2"  # type: ignore[union-attr]
    assert events[5] == ParseError("a6", "unknown command BOGUS")


@given(st.lists(st.integers(0, len(STREAM)), max_size=10))
def test_splitting_anywhere_gives_the_same_events(cuts: list[int]) -> None:
    parser = CommandParser()
    events = []
    bounds = [0, *sorted(cuts), len(STREAM)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        parser.feed(STREAM[start:end])
        events += drain(parser)
    assert events == feed_all(STREAM)


def test_byte_at_a_time() -> None:
    parser = CommandParser()
    events = []
    for i in range(len(STREAM)):
        parser.feed(STREAM[i:i + 1])
        events += drain(parser)
    assert events == feed_all(STREAM)


def test_synchronising_literal_waits_for_the_server() -> None:
    parser = CommandParser()
    parser.feed(b"a LOGIN {5}\r\nalice pw\r\nb NOOP\r\n")
    assert parser.next_event() == NeedContinuation("a", 5)
    assert parser.next_event() is NEED_DATA
    parser.continue_literal()
    assert drain(parser) == [Command("a", "LOGIN", Login("alice", "pw")), Command("b", "NOOP")]


def test_rejected_literal_abandons_the_command() -> None:
    parser = CommandParser()
    parser.feed(b"a APPEND INBOX {3}\r\n")
    assert parser.next_event() == NeedContinuation("a", 3)
    parser.reject_literal()
    assert feed_all(b"b NOOP\r\n", parser) == [Command("b", "NOOP")]


def test_zero_length_synchronising_literal() -> None:
    parser = CommandParser()
    parser.feed(b"a LOGIN alice {0}\r\n\r\n")
    assert parser.next_event() == NeedContinuation("a", 0)
    parser.continue_literal()
    assert drain(parser) == [Command("a", "LOGIN", Login("alice", ""))]


def test_literal_limits_before_and_after_authentication() -> None:
    parser = CommandParser(max_literal=100, max_literal_unauthenticated=10)
    assert feed_all(b"a APPEND INBOX {11}\r\n", parser) == [
        ParseError("a", "literal too big", Severity.TOOBIG)]
    parser.authenticated = True
    assert feed_all(b"b APPEND INBOX {11}\r\n", parser) == [NeedContinuation("b", 11)]
    parser.reject_literal()
    assert feed_all(b"c APPEND INBOX {101}\r\n", parser)[0].severity is Severity.TOOBIG  # type: ignore[union-attr]


def test_oversized_nonsync_literal_is_fatal() -> None:
    parser = CommandParser(max_nonsync_literal=4096)
    parser.authenticated = True
    events = feed_all(b"a APPEND INBOX {4097+}\r\n" + b"x" * 4097 + b"\r\nb NOOP\r\n", parser)
    assert events == [ParseError("a", "non-synchronising literal too big", Severity.FATAL)]
    assert feed_all(b"c NOOP\r\n", parser) == []


def test_line_length_limit() -> None:
    parser = CommandParser(max_line=20)
    assert feed_all(b"a LOGIN alice secret\r\n", parser)[0] == Command("a", "LOGIN",
                                                                       Login("alice", "secret"))
    events = feed_all(b"b LOGIN alice secret1\r\n", parser)
    assert events == [ParseError(None, "line too long", Severity.FATAL)]
    endless = CommandParser(max_line=20)
    assert feed_all(b"x" * 22, endless)[0].severity is Severity.FATAL  # type: ignore[union-attr]


def test_line_limit_applies_per_line_not_to_literals() -> None:
    parser = CommandParser(max_line=30)
    events = feed_all(b"a LOGIN {40+}\r\n" + b"p" * 40 + b" x\r\n", parser)
    assert events == [Command("a", "LOGIN", Login("p" * 40, "x"))]


def test_nesting_limit_is_a_bad_with_tag() -> None:
    parser = CommandParser(max_depth=3)
    events = feed_all(b"t SEARCH ((((ALL))))\r\n", parser)
    assert events == [ParseError("t", "too deeply nested")]


def test_client_lines_for_sasl_and_idle() -> None:
    parser = CommandParser()
    parser.feed(b"a AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nb IDLE\r\ndone\r\n")
    assert parser.next_event() == Command("a", "AUTHENTICATE", Authenticate("PLAIN"))
    parser.expect_line()
    assert parser.next_event() == ClientLine(b"AGFsaWNlAHNlY3JldA==")
    assert parser.next_event() == Command("b", "IDLE")
    parser.expect_line()
    line = parser.next_event()
    assert isinstance(line, ClientLine) and line.is_done and not line.is_cancel


def test_empty_line_is_bad_without_tag() -> None:
    assert feed_all(b"\r\n") == [ParseError(None, "expected tag")]
