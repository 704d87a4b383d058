"""Outbound content encoding: normalised line ends, dot-stuffing, a final CRLF - and never a
smuggled end of data (every sequence of <conformance>/smtp-smuggling/eod-sequences.json,
read in place, fed through our encoder into our own server core)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from client_transcript import ClientDriver, cconfig, converse, envelope
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_transcript import Driver, config

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.client_content import ContentTraits, DotEncoder, LineEnds, encode_data
from postoffice.proto.smtp.data import ChunkDecoder, DotDecoder

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def normalised(content: bytes) -> bytes:
    """The reference: every CRLF, bare CR and bare LF is one CRLF; a final CRLF added."""
    out = re.sub(rb"\r\n|\r|\n", b"\r\n", content)
    return out if not out or out.endswith(b"\r\n") else out + b"\r\n"


def encode(content: bytes, pieces: list[bytes] | None = None) -> bytes:
    encoder = DotEncoder()
    out = b"".join(encoder.feed(p) for p in (pieces if pieces is not None else [content]))
    return out + encoder.finish()


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


def check_wire(wire: bytes) -> None:
    """No bare CR/LF, and CRLF "." CRLF (or a first line ".") only at the very end."""
    assert not BARE.search(wire)
    body = b"\r\n" + wire
    assert body.find(b"\r\n.\r\n") == len(body) - 5


# -- the encoder -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"", b".\r\n"),
        (b"a", b"a\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"a\r\n.\r\nb", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"a\r.\rb\r", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
        (b"..x\r\n", b"...x\r\n.\r\n"),
        (b"x.\r\n", b"x.\r\n.\r\n"),
    ],
)
def test_examples(content: bytes, wire: bytes) -> None:
    assert encode_data(content) == wire
    assert encode(content, [bytes([b]) for b in content]) == wire


@settings(max_examples=300, deadline=None)
@given(
    content=st.lists(st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n", b"\r\n.", b"\xc3\xa9"]),
                     max_size=60).map(b"".join),
    points=st.lists(st.integers(0, 200), max_size=12),
)
def test_any_content_any_chunks_round_trips_through_our_decoders(
    content: bytes, points: list[int]
) -> None:
    pieces = cut(content, points)
    wire = encode(content, pieces)
    check_wire(wire)
    assert wire == encode(content)  # chunk boundaries do not matter
    decoder = DotDecoder(bare_newline="reject")  # the strict receiver accepts it
    assert decoder.feed(wire) == normalised(content) and decoder.done and not decoder.error
    assert decoder.leftover == b""
    lines = LineEnds()  # the BDAT path: same normalisation, no stuffing
    bdat = b"".join(lines.feed(p) for p in pieces) + lines.finish()
    chunk = ChunkDecoder(bare_newline="reject")
    assert chunk.feed(bdat) + chunk.finish() == normalised(content) and not chunk.error


def test_encoder_is_fast() -> None:
    """No per-byte Python: 32 MB of short lines with dots and bare LFs well under a second."""
    content = (b"line\n.dot\r\nmore text here\r\r\n" * 1024) * 1024
    encoder = DotEncoder()
    start = time.perf_counter()
    size = sum(len(encoder.feed(content[i : i + (1 << 16)])) for i in range(0, len(content), 1 << 16))
    size += len(encoder.finish())
    elapsed = time.perf_counter() - start
    assert size > len(content) and elapsed < 1.0, elapsed


def test_content_traits() -> None:
    cases = [
        (b"Subject: x\r\n\r\nhi\r\n", False, False),
        (b"Subject: x\r\n\r\ncaf\xc3\xa9", True, False),
        (b"Subject: caf\xc3\xa9\n\nx", True, True),
        (b"Subject: caf\xc3\xa9", True, True),
    ]
    for content, eight_bit, utf8_headers in cases:
        assert ContentTraits.of(content) == ContentTraits(len(content), eight_bit, utf8_headers)


# -- SMTP smuggling: every published end-of-data sequence -------------------------------------


def conformance_dir() -> Path:
    import os

    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


DATA_FILE = conformance_dir() / "smtp-smuggling" / "eod-sequences.json"
DATA: dict[str, Any] = json.loads(DATA_FILE.read_text()) if DATA_FILE.exists() else {"sequences": []}
SMUGGLED = "ceo@sender.example"


def stored_message(sequence: dict[str, Any], wrapped: bool) -> bytes:
    """The template with the sequence injected, as a sender could have submitted it: the
    content a relay stores (the template's own final "." line is the submitter's terminator)."""
    (key,) = [k for k in DATA if k.startswith("message_template")]
    text: str = DATA[key]
    values = {
        "sender_address": "alice@sender.example",
        "receiver_address": "bob@receiver.example",
        "sender_address_smuggled": SMUGGLED,
        "mail_date": "Mon, 1 Jan 2024 00:00:00 +0000",
        "message_id": "<1@sender.example>",
        "message_id2": "<2@sender.example>",
        "eod_sequence_string": sequence["repr"],
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    if not wrapped:
        text = text.replace("\r\n{inject}\r\n", "{inject}")
    raw = text.encode().replace(b"{inject}", bytes.fromhex(sequence["bytes_hex"]))
    assert raw.endswith(b"\r\n.\r\n")
    return raw[:-3]


CASES = [
    pytest.param(seq, wrapped, chunking, id=f"{seq['bytes_hex']}-{'crlf' if wrapped else 'bare'}"
                 f"-{'bdat' if chunking else 'data'}")
    for seq in DATA["sequences"]
    for wrapped in (True, False)
    for chunking in (False, True)
]


@pytest.mark.skipif(not DATA_FILE.exists(), reason=f"{DATA_FILE} not found")
def test_the_data_file_has_the_published_sequences() -> None:
    assert len(DATA["sequences"]) >= 20


@pytest.mark.skipif(not DATA_FILE.exists(), reason=f"{DATA_FILE} not found")
@pytest.mark.parametrize(("sequence", "wrapped", "chunking"), CASES)
def test_eod_sequence_is_neutralised(
    sequence: dict[str, Any], wrapped: bool, chunking: bool
) -> None:
    content = stored_message(sequence, wrapped)
    if not chunking:
        for pieces in ([content], [bytes([b]) for b in content]):
            check_wire(encode(content, pieces))
    for chunk in (1 << 16, 1):
        client = ClientDriver(cconfig(chunking=chunking),
                              [(envelope("bob@receiver.example"), content)], chunk=chunk)
        server = Driver(config(bare_newline="reject"))  # the strictest receiver
        converse(client, server)
        mails = [e for e in server.events if isinstance(e, ev.MailFrom)]
        assert [m.address for m in mails] == ["a@example.org"]  # no smuggled transaction
        assert not server.rejected
        assert server.messages == [normalised(content)]  # exactly one message, whole
        assert b"SMUGGLED EMAIL" in server.messages[0]
        assert f"FROM:<{SMUGGLED}>".encode() in server.messages[0]
        assert client.results[0].all_delivered
