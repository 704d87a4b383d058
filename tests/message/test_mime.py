"""The MIME part tree: header helpers, RFC 2047/2231 decoding, transfer encodings, limits,
broken input, and the stdlib `email` package as a differential oracle on CPython's samples."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest

from postoffice.message import mime
from postoffice.testing.conformance import CONFORMANCE

CPYTHON = CONFORMANCE / "cpython-email-testdata"


def crlf(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def test_header_fields_unfold_and_keep_order() -> None:
    header = b"Subject: one\r\n\ttwo\r\nX-Empty:\r\nbogus line\r\nTo : a@b\r\n\r\nbody"
    assert mime.header_fields(header) == [
        ("subject", b"one\ttwo"), ("x-empty", b""), ("to", b"a@b")]
    assert [name for name, _ in mime.raw_fields(header)] == ["subject", "x-empty", "", "to"]
    assert mime.unfold(b"a\r\n b\n\tc\r\n") == b"a b\tc"


@pytest.mark.parametrize(("value", "text"), [
    ("=?utf-8?q?caf=C3=A9?=", "café"),
    ("=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
     "If you can read this you understand the example."),
    ("=?utf-8?q?a?= \r\n =?utf-8?q?b?=", "ab"),
    ("x =?utf-8?q?a_b?= y", "x a b y"),
    ("=?utf-8?b?4oKs?=", "€"),
    ("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "€"),
    ("=?x-unknown?q?a?= =?utf-8?q?b?=", "=?x-unknown?q?a?= b"),
    ("=?utf-8*en?q?hi?=", "hi"),
    ("plain \u00e9", "plain é"),
])
def test_decode_words(value: str, text: str) -> None:
    assert mime.decode_words(value) == text
    assert mime.decode_words(value.encode("utf-8")) == text


def part_of(raw: bytes) -> tuple[bytes, mime.Part]:
    raw = crlf(raw)
    return raw, mime.parse(raw)


def test_rfc2231_parameters() -> None:
    raw, root = part_of(
        b"Content-Type: application/x-stuff;\n title*0*=us-ascii'en'This%20is%20even%20more%20;\n"
        b" title*1*=%2A%2A%2Afun%2A%2A%2A%20;\n title*2=\"isn't it!\"\n"
        b"Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.txt;"
        b" size=10\n\n")
    assert root.params["title"] == "This is even more ***fun*** isn't it!"
    assert root.type_params == ((b"title*", b"us-ascii'en'This%20is%20even%20more%20"
                                 b"%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!"),)
    assert root.disposition == "attachment"
    assert root.disposition_params == {"filename": "€ rates.txt", "size": "10"}
    assert root.disposition_wire[0] == (b"filename*", b"UTF-8''%E2%82%AC%20rates.txt")


def test_continuations_without_charset_and_encoded_words_in_params() -> None:
    raw, root = part_of(b'Content-Type: text/plain; name*0="a b"; name*1=".txt";'
                        b' x="=?utf-8?q?=C3=A9?="; (comment) charset = "ISO-8859-1"\n\n')
    assert root.params == {"name": "a b.txt", "x": "é", "charset": "ISO-8859-1"}
    assert root.type_params[0] == (b"name", b"a b.txt")


def test_defaults() -> None:
    raw, root = part_of(b"Subject: x\n\nhello\n")
    assert (root.content_type, root.params, root.transfer_encoding) == (
        "text/plain", {"charset": "us-ascii"}, "7bit")
    raw, root = part_of(b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nA: b\n\nx\n--d--\n")
    assert root.children[0].content_type == "message/rfc822"
    assert root.children[0].message is not None
    raw, root = part_of(b"Content-Type: garbage\nContent-Transfer-Encoding: base64 junk\n\nx")
    assert (root.content_type, root.transfer_encoding) == ("text/plain", "7bit")


def test_transfer_decoding() -> None:
    raw, root = part_of(b"Content-Transfer-Encoding: Base64\n\naGVs\nbG8=d29y!bGQ=\n")
    assert mime.decoded_body(raw, root) == b"hello" + b"world"
    raw, root = part_of(b"Content-Transfer-Encoding: quoted-printable\n\n"
                        b"a=3Db =\nc  \nd=ZZ=e9=\n")
    assert mime.decoded_body(raw, root) == b"a=b c\r\nd=ZZ\xe9"
    raw, root = part_of(b"Content-Type: text/plain; charset=iso-8859-1\n"
                        b"Content-Transfer-Encoding: quoted-printable\n\ncaf=E9")
    assert mime.text_of(raw, root) == "café"
    raw, root = part_of(b"Content-Type: text/plain; charset=x-nonesuch\n\ncaf\xc3\xa9 \xff")
    assert mime.text_of(raw, root) == "café \ufffd"


def test_bare_lf_boundaries_and_missing_close_delimiter() -> None:
    raw = (b"Content-Type: multipart/mixed; boundary=outer\n\n--outer\n"
           b"Content-Type: multipart/alternative; boundary=inner\n\n--inner\n\nfirst\n"
           b"--outer\n\nsecond\n")
    root = mime.parse(raw)
    first, second = root.children
    assert raw[first.children[0].body_start:first.children[0].body_end] == b"first"
    assert raw[second.body_start:second.body_end] == b"second\n"
    assert first.body_end == raw.index(b"\n--outer\n\nsecond")


def test_boundary_prefixes_pick_the_longest() -> None:
    raw, root = part_of(b"Content-Type: multipart/mixed; boundary=a\n\n--a\n"
                        b"Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\nx\n--ab--\n"
                        b"--a\n\ny\n--a--\n")
    assert [len(p.children) for p in root.children] == [1, 0]
    inner = root.children[0].children[0]
    assert raw[inner.body_start:inner.body_end] == b"x"


def test_header_cut_by_boundary_and_multipart_without_boundary() -> None:
    raw, root = part_of(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                        b"Content-Type: text/html\n--b--\n")
    child = root.children[0]
    assert child.content_type == "text/html" and child.body_start == child.body_end
    raw, root = part_of(b"Content-Type: multipart/mixed\n\n--x\n\nbody\n")
    assert root.content_type == "text/plain" and not root.children


def test_nesting_and_count_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    depth = mime.MAX_DEPTH + 20
    raw = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(depth)) + b"x\r\n"
    root = mime.parse(raw)
    levels = root.walk()
    assert len(levels) == mime.MAX_DEPTH + 1
    assert levels[-1].content_type == "application/octet-stream"
    assert levels[-1].body_end == len(raw)
    monkeypatch.setattr(mime, "MAX_PARTS", 5)
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 50
    root = mime.parse(raw + b"--b--\r\n")
    assert len(root.walk()) == 5
    assert root.body_end == len(raw) + len(b"--b--\r\n")


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"no header at all", b"A: b", b"\n\n\n",
                                 b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n",
                                 b"Content-Type: message/rfc822\n\n",
                                 b"Content-Type: text/plain; charset=\"unterminated\n\nx",
                                 b"Content-Type: (((\n\n", b"--b\n--b--\n" * 3])
def test_malformed_input_parses(raw: bytes) -> None:
    root = mime.parse(raw)
    assert root.body_end == len(raw)
    mime.searchable_text(raw, root)


def test_searchable_text_takes_text_parts_and_messages() -> None:
    raw, root = part_of(b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nplain\n"
                        b"--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\nAAAA\n"
                        b"--b\nContent-Type: message/rfc822\n\nSubject: s\n"
                        b"Content-Type: text/html; charset=utf-8\n"
                        b"Content-Transfer-Encoding: base64\n\nPGI+w6k8L2I+\n--b--\n")
    assert mime.searchable_text(raw, root) == "plain\n<b>é</b>"


# -- the stdlib email package as an oracle ---------------------------------------------------

# Where email and IMAP servers differ on purpose: email parses message/delivery-status and
# message/external-body bodies, drops empty parts, keeps a multipart without boundary, and
# ends a header at a line without a colon; we follow RFC 2046 and Dovecot there.
STRUCTURE_DIFFERS = {"msg_16.txt", "msg_25.txt", "msg_36.txt", "msg_37.txt", "msg_41.txt",
                     "msg_43.txt"}
PAYLOAD_DIFFERS = STRUCTURE_DIFFERS | {"msg_15.txt", "msg_19.txt", "msg_35.txt", "msg_38.txt",
                                       "msg_47.txt"}


def cpython_samples() -> list[Path]:
    return sorted((CPYTHON / "data").glob("msg_*.txt"))


@pytest.mark.parametrize("path", cpython_samples(), ids=lambda p: p.name)
def test_structure_agrees_with_email_package(path: Path) -> None:
    raw = path.read_bytes()
    root = mime.parse(raw)
    theirs = email.message_from_bytes(raw, policy=email.policy.compat32)
    oracle = json.loads((CPYTHON / "cpython-3.13.0-structure-oracle.json").read_text())
    expected = [line.strip() for line in oracle["messages"][path.name]["compat32"]["structure"]]
    ours = [part.content_type for part in root.walk()]
    if path.name not in STRUCTURE_DIFFERS:
        assert ours == [m.get_content_type() for m in theirs.walk()] == expected
    if path.name in PAYLOAD_DIFFERS:
        return
    for part, message in zip(root.walk(), theirs.walk(), strict=True):
        if part.multipart or part.message is not None:
            continue
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        assert mime.decoded_body(raw, part).rstrip(b"\r\n") == payload.rstrip(b"\r\n")
        if part.type == "text":
            charset = message.get_content_charset() or "us-ascii"
            assert part.params["charset"].lower() == charset.lower()


def test_preamble_and_epilogue_of_a_multipart() -> None:
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"before\r\n--b\r\n\r\npart\r\n--b--\r\nafter\r\n")
    root = mime.parse(raw)
    assert mime.preamble_epilogue(raw, root) == b"beforeafter\r\n"
    assert mime.preamble_epilogue(raw, root.children[0]) == b""
