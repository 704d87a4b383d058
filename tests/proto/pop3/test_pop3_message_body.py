"""RETR's fast dot-stuffing equals the line-by-line one for every message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postoffice.proto.pop3 import responses as R

CASES = [b"", b"a", b"a\r\n", b".\r\n", b"..\r\n.x\r\n", b"a\r\n.\r\nb\r\n", b"a\nb\n",
         b"a\r\r\nb\r\n", b"a\r\n.b", b"\r\n", b"\r\n.\r\n.\r\n", b"x\r\n\n", b"\n", b"\r",
         b"Subject: x\r\n\r\n.hidden\r\n..two\r\nend\r\n"]


def _slow(data: bytes) -> bytes:
    return R.multiline(R.lines_of(data))


def test_fixed_cases() -> None:
    for data in CASES:
        assert R.message_body(data) == _slow(data), data


@given(st.lists(st.sampled_from([b"a", b".", b"\r\n", b"\n", b"\r", b"..", b"x y"]),
                max_size=30))
def test_any_message(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert R.message_body(data) == _slow(data)
