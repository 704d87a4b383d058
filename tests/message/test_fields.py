"""Raw header fields (message/fields.py): split, read and dropped byte for byte."""

from hypothesis import given
from hypothesis import strategies as st

from postoffice.message.fields import RawField, drop_fields, fields_named, split_header

MESSAGE = (b"From: a@example.org\r\n"
           b"Subject: one\r\n\ttwo\r\n"
           b"X-Odd : value\r\n"
           b"no colon here\r\n"
           b"\r\n"
           b"From: in the body\r\n")


def test_split_keeps_every_byte() -> None:
    fields, body = split_header(MESSAGE)
    assert [f.raw for f in fields] == [b"From: a@example.org\r\n", b"Subject: one\r\n\ttwo\r\n",
                                       b"X-Odd : value\r\n", b"no colon here\r\n"]
    assert MESSAGE[body:] == b"From: in the body\r\n"
    assert b"".join(f.raw for f in fields) + b"\r\n" + MESSAGE[body:] == MESSAGE


def test_names_and_values() -> None:
    fields, _ = split_header(MESSAGE)
    assert [f.name for f in fields] == ["From", "Subject", "X-Odd", ""]
    assert fields[1].value == "one\ttwo" and fields[2].is_named("x-odd")
    assert RawField(b"Subject:   \r\n").value == ""
    assert RawField("Subject: caf\u00e9\r\n".encode()).value == "caf\u00e9"


def test_edge_shapes() -> None:
    assert split_header(b"\r\nbody") == ((), 2)
    assert split_header(b"") == ((), 0)
    fields, body = split_header(b"A: 1\r\nB: 2")  # all header, last line without CRLF
    assert [f.raw for f in fields] == [b"A: 1\r\n", b"B: 2"] and body == 10
    assert [f.value for f in fields_named(MESSAGE, "FROM")] == ["a@example.org"]


def test_drop_fields() -> None:
    assert drop_fields(MESSAGE, lambda f: f.is_named("subject")) == MESSAGE.replace(
        b"Subject: one\r\n\ttwo\r\n", b"")
    assert drop_fields(MESSAGE, lambda f: False) is MESSAGE
    assert drop_fields(b"A: 1\r\n\r\nbody", lambda f: True) == b"\r\nbody"


_LINE = st.from_regex(rb"[A-Za-z-]{1,8} ?:[ -~]{0,20}", fullmatch=True)


@given(st.lists(st.tuples(_LINE, st.booleans()), max_size=6), st.binary(max_size=30))
def test_dropping_nothing_or_something_keeps_the_rest(lines: list[tuple[bytes, bool]],
                                                     body: bytes) -> None:
    header = b"".join(line + b"\r\n" for line, _ in lines)
    message = header + b"\r\n" + body
    expected = b"".join(line + b"\r\n" for line, gone in lines if not gone) + b"\r\n" + body
    flags = iter([gone for _, gone in lines])  # the predicate sees the fields in order
    if lines:
        assert drop_fields(message, lambda f: next(flags)) == expected
