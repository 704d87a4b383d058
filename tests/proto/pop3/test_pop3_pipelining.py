"""Pipelined commands give the same replies whole, byte by byte, or split anywhere."""

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from pop3_driver import Driver

SCRIPT = (
    b"CAPA\r\nUSER alice\r\nPASS wrong\r\nAUTH PLAIN\r\n"
    + base64.b64encode(b"\0alice\0s3cret pw")
    + b"\r\nSTAT\r\nLIST\r\nUIDL 2\r\nTOP 1 2\r\nRETR 1\r\nDELE 1\r\nLIST\r\nRSET\r\n"
    b"DELE 3\r\nRETR 3\r\nNOOP\nBOGUS\r\nQUIT\r\nNOOP\r\n"
)


def run(chunks: list[bytes]) -> tuple[bytes, list[object]]:
    d = Driver()
    for chunk in chunks:
        d.feed(chunk)
    return bytes(d.out), list(d.events)


WHOLE = run([SCRIPT])


def test_whole_script_reaches_update() -> None:
    out, events = WHOLE
    assert out.endswith(b"-ERR Unknown command\r\n+OK Bye\r\n")
    assert out.count(b"+OK") == 15 and out.count(b"\r\n..hidden dot\r\n") == 2  # TOP, RETR


def test_byte_by_byte() -> None:
    assert run([SCRIPT[i:i + 1] for i in range(len(SCRIPT))]) == WHOLE


@settings(deadline=None)  # timing varies on a loaded machine
@given(st.lists(st.integers(0, len(SCRIPT)), max_size=12))
def test_any_split(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(SCRIPT)]
    assert run([SCRIPT[a:b] for a, b in zip(points, points[1:], strict=False)]) == WHOLE
