"""The streaming DATA and BDAT content decoders."""

from __future__ import annotations

import time
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_transcript import reference_data as reference

from postoffice.proto.smtp.data import ChunkDecoder, DotDecoder


def decode(pieces: Iterable[bytes], **kw: object) -> tuple[bytes, str | None, bytes] | None:
    decoder = DotDecoder(**kw)  # type: ignore[arg-type]
    out, rest = [], []
    for piece in pieces:
        if decoder.done:
            rest.append(piece)  # the caller would parse these as commands
        else:
            out.append(decoder.feed(piece))
    if not decoder.done:
        return None
    content = b"".join(out)
    if decoder.error is None:
        assert decoder.size == len(content)
    return content, decoder.error, decoder.leftover + b"".join(rest)


def splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize(
    ("stream", "content", "leftover"),
    [
        (b".\r\n", b"", b""),
        (b".\r\nQUIT\r\n", b"", b"QUIT\r\n"),
        (b"a\r\n.\r\n", b"a\r\n", b""),
        (b"\r\n.\r\n", b"\r\n", b""),
        (b"..\r\n.\r\n", b".\r\n", b""),
        (b"...x\r\n.\r\n", b"..x\r\n", b""),
        (b".x\r\n.\r\n", b"x\r\n", b""),
        (b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n", b""),
        (b"a\r\n.. \r\n. \r\n.\r\n", b"a\r\n. \r\n \r\n", b""),
        (b"a\r\n.\r\n.\r\n", b"a\r\n", b".\r\n"),
    ],
)
def test_dot_decoding(stream: bytes, content: bytes, leftover: bytes) -> None:
    assert decode([stream]) == (content, None, leftover)
    assert decode([bytes([b]) for b in stream]) == (content, None, leftover)


@pytest.mark.parametrize(
    "stream",
    [b"", b".", b".\r", b"a\r\n.", b"a\r\n.\r", b"a\n.\n", b"a\r.\r", b"a\n.\r\n", b"a\r\n.\n",
     b"a\r\n. \r\n", b"a\r\n.\r\r\n", b"a\r\n\x00.\r\n"],
)  # fmt: skip
def test_nothing_but_crlf_dot_crlf_ends_data(stream: bytes) -> None:
    assert decode([stream]) is None
    assert decode([bytes([b]) for b in stream]) is None


@pytest.mark.parametrize(
    ("stream", "normalized"),
    [
        (b"a\nb\r\n.\r\n", b"a\r\nb\r\n"),
        (b"a\rb\r\n.\r\n", b"a\r\nb\r\n"),
        (b"a\r\rb\r\n.\r\n", b"a\r\n\r\nb\r\n"),
        (b"a\n\rb\r\n.\r\n", b"a\r\n\r\nb\r\n"),
        (b"a\r\r\nb\r\n.\r\n", b"a\r\n\r\nb\r\n"),
        (b"\na\r\n.\r\n", b"\r\na\r\n"),
        (b"a\n.\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
        (b"a\r\n.\rb\r\n.\r\n", b"a\r\n\r\nb\r\n"),
    ],
)
def test_bare_newlines(stream: bytes, normalized: bytes) -> None:
    rejected = decode([stream])
    assert rejected is not None and rejected[:2] == (b"", "bare-newline")
    assert decode([stream], bare_newline="normalize") == (normalized, None, b"")
    pieces = [bytes([b]) for b in stream]
    assert decode(pieces, bare_newline="normalize") == (normalized, None, b"")
    one_by_one = decode(pieces)
    assert one_by_one is not None and one_by_one[1] == "bare-newline"


def test_size_limit_stops_emitting() -> None:
    decoder = DotDecoder(max_size=10)
    assert decoder.feed(b"0123456789\r\n") == b"0123456789"  # CRLF held back
    assert decoder.error is None
    assert decoder.feed(b"x") == b""
    assert decoder.error == "too-large"
    assert decoder.feed(b"more\r\n" * 1000) == b""
    assert decoder.feed(b".\r\nNOOP\r\n") == b""
    assert decoder.done and decoder.leftover == b"NOOP\r\n"
    assert decode([b"01234567\r\n.\r\n"], max_size=10) == (b"01234567\r\n", None, b"")


def test_bare_newline_wins_over_size_whatever_the_split() -> None:
    stream = b"0123456789abc\nx\r\n.\r\n"
    for cut in range(len(stream)):
        got = decode([stream[:cut], stream[cut:]], max_size=5)
        assert got is not None and got[1] == "bare-newline"


def test_decoder_holds_at_most_four_bytes() -> None:
    decoder = DotDecoder()
    for piece in [b"abc\r", b"\n", b".", b"\r", b"x\r\n.", b"\r"]:
        decoder.feed(piece)
        assert len(decoder._tail) <= 4
    assert not decoder.done


ALPHABET = st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"\r\n..", b"\x00"])


@settings(max_examples=400)
@given(
    st.lists(ALPHABET, max_size=40).map(b"".join),
    st.lists(st.integers(min_value=0), max_size=8),
    st.booleans(),
    st.sampled_from([0, 5, 30]),
)
def test_matches_reference_at_any_split(
    body: bytes, cuts: list[int], normalize: bool, max_size: int
) -> None:
    stream = body + b"\r\n.\r\nNEXT"
    policy = "normalize" if normalize else "reject"
    expected = reference(stream, normalize, max_size)
    got = decode(splits(stream, cuts), bare_newline=policy, max_size=max_size)
    assert got is not None and expected is not None
    content, error, leftover = got
    assert (error, leftover) == expected[1:]
    if error is None:
        assert content == expected[0]


def test_chunk_decoder() -> None:
    decoder = ChunkDecoder()
    assert decoder.feed(b"a.b\r") == b"a.b"
    assert decoder.feed(b"\n.\r\n\x00\r") == b"\r\n.\r\n\x00"
    assert decoder.finish() == b""
    assert decoder.error == "bare-newline"
    normal = ChunkDecoder(bare_newline="normalize")
    out = normal.feed(b"a\nb\r") + normal.feed(b"c") + normal.feed(b"\r") + normal.finish()
    assert out == b"a\r\nb\r\nc\r\n" and normal.size == len(out)
    small = ChunkDecoder(max_size=3)
    assert small.feed(b"abc") == b"abc"
    assert small.feed(b"d") == b"" and small.error == "too-large"


def _message(size: int) -> bytes:
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tem\r\n"
    block = line * 9 + b"..stuffed line\r\n"
    body = block * (size // len(block) + 1)
    return body[:size].rsplit(b"\r\n", 1)[0] + b"\r\n"


def test_ten_megabytes_in_64k_chunks_is_fast() -> None:
    message = _message(10 * 1024 * 1024)
    stream = message + b".\r\n"
    chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    best = float("inf")
    for _ in range(3):
        decoder = DotDecoder(max_size=20 * 1024 * 1024)
        total = 0
        start = time.perf_counter()
        for chunk in chunks:
            total += len(decoder.feed(chunk))
        best = min(best, time.perf_counter() - start)
        assert decoder.done and decoder.error is None and total == decoder.size
    assert total == len(message) - message.count(b"\r\n..")
    assert best < 0.1, f"decoding 10 MB took {best:.3f} s"
