"""Property: however the client's bytes are cut into packets (inside CRLF, inside the "."
line, inside a BDAT chunk ...), the core emits the same events and writes the same bytes.

Two things legitimately depend on the cuts and are normalised before comparing: how content
is divided into DataChunk events (adjacent chunks are joined), and how much content of a
transaction the core emitted before refusing it (chunks followed by DataRejected are dropped:
the adapter discards them anyway)."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_transcript import Driver, config

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.config import ServerConfig


def normalise(events: list[ev.Event]) -> list[ev.Event]:
    out: list[ev.Event] = []
    content: list[bytes] = []
    for event in events:
        if isinstance(event, ev.DataChunk):
            content.append(event.data)
            continue
        if content and not isinstance(event, ev.DataRejected):
            out.append(ev.DataChunk(b"".join(content)))
        content.clear()
        out.append(event)
    if content:
        out.append(ev.DataChunk(b"".join(content)))
    return out


def session(pieces: list[bytes], cfg: ServerConfig) -> tuple[list[ev.Event], bytes]:
    driver = Driver(cfg)
    driver.feed_pieces(pieces)
    return normalise(driver.events), driver.output


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


PLAIN = base64.b64encode(b"\0user\0secret")
SCENARIOS = [
    (
        b"EHLO client.example\r\nMAIL FROM:<a@example.org> SIZE=40\r\nRCPT TO:<b@example.org>\r\n"
        b"RCPT TO:<c@example.org> NOTIFY=NEVER\r\nDATA\r\n"
        b"Subject: x\r\n\r\n..dot\r\n\r\n. \r\nend\r\n.\r\n"
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
        b"bare\nlf\r\r\n.\r\n"
        b"NOOP\nRSET\r\nVRFY x\r\nFOO\r\n" + b"NOOP " + b"x" * 600 + b"\r\n"
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
        b"BDAT 7\r\nab\r\n.\r\rBDAT 3\r\n\ncdBDAT 0 LAST\r\nQUIT\r\n"
    ),
    (
        b"EHLO c\r\nAUTH LOGIN\r\n"
        + base64.b64encode(b"user")
        + b"\r\n"
        + base64.b64encode(b"secret")
        + b"\r\n"
        + b"MAIL FROM:<a@example.org>\r\n"
        b"RCPT TO:<b@example.org>\r\nDATA\r\n"
        + b"0123456789\r\n" * 10
        + b".\r\nAUTH PLAIN "
        + PLAIN
        + b"\r\nBDAT 30\r\n"
        + b"z" * 30
        + b"RSET\r\nSTARTTLS\r\nMAIL FROM:<x@y>\r\n"
    ),  # fmt: skip
]
CONFIGS = [
    config(max_command_line=512),
    config(max_command_line=512, bare_newline="normalize"),
    config(secure=True, max_message_size=50, tls_available=True),
]


@settings(max_examples=300)
@given(
    st.sampled_from(SCENARIOS),
    st.sampled_from(CONFIGS),
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_fixed_sessions_split_anywhere(
    scenario: bytes, cfg: ServerConfig, points: list[int]
) -> None:
    assert session(cut(scenario, points), cfg) == session([scenario], cfg)


def test_fixed_sessions_byte_by_byte() -> None:
    for scenario in SCENARIOS:
        for cfg in CONFIGS:
            whole = session([scenario], cfg)
            assert session([bytes([b]) for b in scenario], cfg) == whole
            assert len(whole[1]) > 100


VOCABULARY = [
    b"EHLO c\r\n", b"HELO c\n", b"MAIL FROM:<a@example.org>\r\n", b"MAIL FROM:<>\r\n",
    b"RCPT TO:<b@example.org>\r\n", b"RCPT TO:<@x.example:b@example.org>\r\n", b"DATA\r\n",
    b"BDAT 4\r\n", b"BDAT 2 LAST\r\n", b"RSET\r\n", b"NOOP\r\n", b"VRFY a\r\n",
    b"AUTH PLAIN " + PLAIN + b"\r\n", b"AUTH LOGIN\r\n", b"*\r\n", b".\r\n", b"..\r\n", b"\r\n",
    b"\r", b"\n", b".", b"text", b"\x00", b"x" * 300, b"\r\n.\n", b"\n.\r\n",
]  # fmt: skip


@settings(max_examples=300)
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=30).map(b"".join),
    st.sampled_from(CONFIGS),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_random_streams_split_anywhere(stream: bytes, cfg: ServerConfig, points: list[int]) -> None:
    assert session(cut(stream, points), cfg) == session([stream], cfg)
