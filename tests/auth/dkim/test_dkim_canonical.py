"""DKIM canonicalisation (RFC 6376 3.4), header selection and hashing: the code the signer and
the verifier share. dkimpy's canonicalisation is a differential oracle where it follows the RFC."""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.auth.dkim.canonical import (
    HeaderField,
    body_hash,
    canonicalize_body,
    canonicalize_header,
    header_hash_input,
    parse_canonicalization,
    select_headers,
    signature_field_for_hash,
    split_message,
    strip_b_value,
)
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.tags import parse_tag_list, qp_decode, qp_encode
from postoffice.testing.peers import peers_required

try:
    from dkim import rfc822_parse
    from dkim.canonicalization import Relaxed, Simple
except ImportError:  # pragma: no cover - dkimpy is a test dependency
    if peers_required():
        raise
    pytest.skip("needs dkimpy (PyPI), the DKIM test oracle", allow_module_level=True)

# RFC 6376 3.4.6, the canonicalisation example (SP and HTAB written out).
RFC_EXAMPLE = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n"


def test_rfc6376_example_relaxed() -> None:
    fields, body = split_message(RFC_EXAMPLE)
    assert [canonicalize_header(f, "relaxed") for f in fields] == [b"a:X\r\n", b"b:Y Z\r\n"]
    assert canonicalize_body(body, "relaxed") == b" C\r\nD E\r\n"


def test_rfc6376_example_simple() -> None:
    fields, body = split_message(RFC_EXAMPLE)
    assert [canonicalize_header(f, "simple") for f in fields] == [b"A: X\r\n", b"B : Y\t\r\n\tZ  \r\n"]
    assert canonicalize_body(body, "simple") == b" C \r\nD \t E\r\n"


@pytest.mark.parametrize(
    ("body", "simple", "relaxed"),
    [
        (b"", b"\r\n", b""),
        (b"\r\n", b"\r\n", b""),
        (b"\r\n\r\n\r\n", b"\r\n", b""),
        (b"  \r\n\t\r\n", b"  \r\n\t\r\n", b""),
        (b"abc", b"abc\r\n", b"abc\r\n"),  # no final CRLF: one is added
        (b"abc  ", b"abc  \r\n", b"abc\r\n"),  # ... and trailing WSP of that last line goes
        (b"abc\r\n\r\n", b"abc\r\n", b"abc\r\n"),
        (b"a\r\n\r\nb\r\n\r\n", b"a\r\n\r\nb\r\n", b"a\r\n\r\nb\r\n"),
        (b"abc\r\r\n", b"abc\r\r\n", b"abc\r\r\n"),  # a bare CR is line content
        (b"abc\n\r\n\r\n", b"abc\n\r\n", b"abc\n\r\n"),  # so is a bare LF
        (b"abc\r\n\n\r\n", b"abc\r\n\n\r\n", b"abc\r\n\n\r\n"),
        (b"a \t b\t\r\n", b"a \t b\t\r\n", b"a b\r\n"),
        (b"\xff\xfe  \xe9\r\n", b"\xff\xfe  \xe9\r\n", b"\xff\xfe \xe9\r\n"),
        (b" " * 100 + b"x" + b"\t" * 7 + b"\r\n", b" " * 100 + b"x" + b"\t" * 7 + b"\r\n", b" x\r\n"),
    ],
)
def test_body_canonicalization(body: bytes, simple: bytes, relaxed: bytes) -> None:
    assert canonicalize_body(body, "simple") == simple
    assert canonicalize_body(body, "relaxed") == relaxed


def test_empty_body_hashes_are_the_rfc_values() -> None:
    # RFC 6376 3.4.3/3.4.4: sha256 of CRLF (simple) and of nothing (relaxed).
    assert body_hash(b"", "simple").digest == hashlib.sha256(b"\r\n").digest()
    assert body_hash(b"", "relaxed").digest == hashlib.sha256(b"").digest()


def test_body_hash_length() -> None:
    full = body_hash(b"hello world\r\nmore\r\n", "relaxed")
    assert full.canonical_length == full.hashed_length == 19
    part = body_hash(b"hello world\r\nmore\r\n", "relaxed", length=5)
    assert part.digest == hashlib.sha256(b"hello").digest() and part.hashed_length == 5
    assert part.canonical_length == 19
    longer = body_hash(b"hi\r\n", "simple", length=100)
    assert longer.hashed_length == 4 and longer.digest == hashlib.sha256(b"hi\r\n").digest()
    with pytest.raises(DkimError):
        body_hash(b"x", "simple", length=-1)


def test_split_message_shapes() -> None:
    fields, body = split_message(b"A: 1\r\nB: 2\r\n folded\r\n\r\nbody\r\n")
    assert [f.raw for f in fields] == [b"A: 1\r\n", b"B: 2\r\n folded\r\n"]
    assert body == b"body\r\n"
    assert split_message(b"\r\nbody only\r\n") == ([], b"body only\r\n")
    fields, body = split_message(b"A: 1\r\nB: 2\r\n")  # no empty line: all header, no body
    assert [f.raw for f in fields] == [b"A: 1\r\n", b"B: 2\r\n"] and body == b""
    fields, body = split_message(b"A: 1\r\nB: 2")  # last field gets the CRLF it will arrive with
    assert fields[-1].raw == b"B: 2\r\n" and body == b""
    fields, _ = split_message(b"Subject : x\r\n\r\n")
    assert fields[0].name == b"Subject" and fields[0].lname == b"subject"
    for lf in (b"From: a@example.org\nSubject: x\n\nbody\n", b"From: a@example.org\nSubject: x\n\nbody\r\n"):
        with pytest.raises(DkimError, match="LF line endings"):
            split_message(lf)


def test_relaxed_header_unfolds_and_compresses() -> None:
    field = HeaderField.from_raw(b"SUBJect \t:  a \t b\r\n \r\n\t c  \r\n")
    assert canonicalize_header(field, "relaxed") == b"subject:a b c\r\n"
    assert canonicalize_header(HeaderField.from_raw(b"X-Empty:\r\n"), "relaxed") == b"x-empty:\r\n"
    assert canonicalize_header(HeaderField.from_raw(b"X-8bit: caf\xc3\xa9\r\n"), "relaxed") == b"x-8bit:caf\xc3\xa9\r\n"


def test_header_selection_bottom_up_and_oversigning() -> None:
    fields, _ = split_message(b"Received: 1\r\nFrom: a\r\nReceived: 2\r\nfrom: b\r\nTo: c\r\n\r\n")
    chosen = select_headers(fields, ["From", "received", "RECEIVED", "Received", "to", "Cc", "From", "From"])
    raws = [f.raw if f else None for f in chosen]
    assert raws == [b"from: b\r\n", b"Received: 2\r\n", b"Received: 1\r\n", None, b"To: c\r\n", None,
                    b"From: a\r\n", None]


def test_strip_b_value() -> None:
    field = b"DKIM-Signature: v=1; bh=abc=; b=Zm9v\r\n YmFy\r\n"
    assert strip_b_value(field) == b"DKIM-Signature: v=1; bh=abc=; b="
    middle = b"DKIM-Signature: b = Zm9v\r\n YmFy ; bh=abc=; d=x\r\n"
    assert strip_b_value(middle) == b"DKIM-Signature: b =; bh=abc=; d=x\r\n"
    # bh= and tags ending in b are left alone; so is 'b=' inside another tag's value
    other = b"DKIM-Signature: bh=Zm9v; ab=1; z=From:b=3Dx; b=Zm9v\r\n"
    assert strip_b_value(other) == b"DKIM-Signature: bh=Zm9v; ab=1; z=From:b=3Dx; b="


def test_signature_field_for_hash_drops_final_crlf() -> None:
    field = b"DKIM-Signature: v=1;  a=rsa-sha256;\r\n\tb=Zm9v;\r\n bh=YmFy\r\n"
    assert signature_field_for_hash(field, "simple") == b"DKIM-Signature: v=1;  a=rsa-sha256;\r\n\tb=;\r\n bh=YmFy"
    assert signature_field_for_hash(field, "relaxed") == b"dkim-signature:v=1; a=rsa-sha256; b=; bh=YmFy"


def test_header_hash_input_order() -> None:
    fields, _ = split_message(b"From: a\r\nTo: b\r\nSubject: s\r\n\r\n")
    data = header_hash_input(fields, ["subject", "from", "x"], b"DKIM-Signature: h=subject:from:x; b=abc\r\n",
                             "relaxed")
    assert data == b"subject:s\r\nfrom:a\r\ndkim-signature:h=subject:from:x; b="


def test_parse_canonicalization() -> None:
    assert parse_canonicalization(None) == ("simple", "simple")
    assert parse_canonicalization("relaxed") == ("relaxed", "simple")
    assert parse_canonicalization("Relaxed / Relaxed") == ("relaxed", "relaxed")
    assert parse_canonicalization("simple/relaxed") == ("simple", "relaxed")
    for bad in ("nowsp", "relaxed/", "relaxed/other", "/simple"):
        with pytest.raises(DkimError):
            parse_canonicalization(bad)


def test_tag_list() -> None:
    tags = parse_tag_list(b" v=1;a = rsa-sha256 ;\r\n\tb=ab\r\n cd; empty=;")
    assert tags == {"v": "1", "a": "rsa-sha256", "b": "ab\r\n cd", "empty": ""}
    for bad in ("v=1; v=1", "=x", "1x=2", "novalue"):
        with pytest.raises(DkimError):
            parse_tag_list(bad)
    assert qp_encode("a b;c=d@é") == "a=20b=3Bc=3Dd@=C3=A9"
    assert qp_decode("a=20b=3B c=3Dd@=C3=A9") == "a b;c=d@é"


def test_ten_megabytes_is_fast() -> None:
    line = b"Lorem ipsum  dolor\tsit amet, consectetur adipiscing elit, sed do eiusmod tempor  \r\n"
    body = line * (10_000_000 // len(line)) + b"\r\n" * 1000
    start = time.perf_counter()
    for method in ("simple", "relaxed"):
        body_hash(body, method)  # type: ignore[arg-type]
    assert time.perf_counter() - start < 2.0  # ~0.1 s here; a per-byte loop would take many seconds
    # pathological shapes stay linear too
    for shape in (b"\r\n" * 2_000_000, b" \t" * 2_000_000, b"a\t" * 2_000_000, b" " * 4_000_000 + b"\r\n"):
        start = time.perf_counter()
        body_hash(shape, "relaxed")
        body_hash(shape, "simple")
        assert time.perf_counter() - start < 2.0


# --- differential: dkimpy agrees wherever it follows the RFC -------------------------------------

_LINE = st.lists(st.sampled_from([b"a", b"Z", b" ", b"\t", b"\xe9", b"\x00", b"=", b"."]), max_size=12).map(b"".join)


@settings(max_examples=400)
@given(lines=st.lists(_LINE, max_size=8), final_crlf=st.booleans(), extra_empty=st.integers(0, 3))
def test_body_matches_dkimpy(lines: list[bytes], final_crlf: bool, extra_empty: int) -> None:
    body = b"\r\n".join(lines) + (b"\r\n" if final_crlf else b"") + b"\r\n" * extra_empty
    assert canonicalize_body(body, "simple") == Simple.canonicalize_body(body)
    if body.endswith((b" ", b"\t")):
        # dkimpy keeps one SP at the end of an unterminated last line; RFC 6376 3.4.4 removes it
        # (and so does every receiver, which gets the line with the CRLF SMTP adds).
        assert canonicalize_body(body, "relaxed") == Relaxed.canonicalize_body(body + b"\r\n")
    else:
        assert canonicalize_body(body, "relaxed") == Relaxed.canonicalize_body(body)


_NAME = st.sampled_from([b"From", b"to", b"SUBJECT", b"X-Thing", b"Received", b"Content-Type"])
_VALUE_PART = st.lists(st.sampled_from([b"x", b"Y", b" ", b"\t", b"<a@b>", b";", b":", b"\xc3\xa9"]),
                       min_size=0, max_size=8).map(b"".join)


@settings(max_examples=300)
@given(st.lists(st.tuples(_NAME, st.lists(_VALUE_PART, min_size=1, max_size=3)), min_size=1, max_size=8))
def test_headers_match_dkimpy(spec: list[tuple[bytes, list[bytes]]]) -> None:
    header = b"".join(name + b":" + b"\r\n ".join(parts) + b"\r\n" for name, parts in spec)
    message = header + b"\r\nbody\r\n"
    fields, body = split_message(message)
    theirs_headers, theirs_body = rfc822_parse(message)
    assert body == theirs_body
    assert [f.name for f in fields] == [n for n, _ in theirs_headers]
    for field, (name, value) in zip(fields, Relaxed.canonicalize_headers(theirs_headers), strict=True):
        assert canonicalize_header(field, "relaxed") == name + b":" + value
    for field, (name, value) in zip(fields, theirs_headers, strict=True):
        assert canonicalize_header(field, "simple") == name + b":" + value
