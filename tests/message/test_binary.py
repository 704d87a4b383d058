"""Binary parts re-encoded as base64 for literal8 APPENDs (RFC 3516 4.4)."""

from __future__ import annotations

from postoffice.message import mime
from postoffice.message.binary import base64_lines, encode_binary_parts, needs_base64

PAYLOAD = b"\0-\xe4\n\r\n\n"


def leaves(raw: bytes) -> list[mime.Part]:
    return [p for p in mime.parse(raw).walk() if not p.multipart and p.message is None]


def test_a_binary_message_becomes_base64() -> None:
    raw = (b"From: a@example.org\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + PAYLOAD)
    out = encode_binary_parts(raw)
    assert out == (b"From: a@example.org\r\nContent-Type: application/octet-stream\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==")
    root = mime.parse(out)
    assert root.transfer_encoding == "base64"
    assert mime.decoded_body(out, root) == PAYLOAD


def test_only_the_binary_part_of_a_multipart_changes() -> None:
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
           b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: Binary\r\n\r\n"
           + PAYLOAD * 20 + b"\r\n--b--\r\nepilogue\r\n")
    out = encode_binary_parts(raw)
    assert b"\0" not in out
    assert out.startswith(b"Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n"
                          b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n")
    assert out.endswith(b"Content-Transfer-Encoding: base64\r\n\r\n"
                        + base64_lines(PAYLOAD * 20) + b"\r\n--b--\r\nepilogue\r\n")
    text, image = leaves(out)
    assert mime.decoded_body(out, text) == b"hello"
    assert image.transfer_encoding == "base64"
    assert mime.decoded_body(out, image) == PAYLOAD * 20


def test_nul_under_an_identity_encoding_is_encoded_too() -> None:
    raw = b"Subject: x\nContent-Type: text/plain\n\nNUL\0here\n"
    out = encode_binary_parts(raw)
    assert out.startswith(b"Subject: x\nContent-Type: text/plain\n"
                          b"Content-Transfer-Encoding: base64\n\n")
    (part,) = leaves(out)
    assert mime.decoded_body(out, part) == b"NUL\0here\n"


def test_every_transfer_encoding_field_is_replaced_once() -> None:
    raw = (b"Content-Transfer-Encoding:\r\n binary\r\nX-A: 1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nab")
    out = encode_binary_parts(raw)
    assert out == b"Content-Transfer-Encoding: base64\r\nX-A: 1\r\n\r\nYWI="


def test_an_encapsulated_message_is_opened() -> None:
    inner = b"Content-Transfer-Encoding: binary\r\n\r\n" + PAYLOAD
    raw = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n\r\n" + inner
    out = encode_binary_parts(raw)
    assert out.startswith(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: binary\r\n")
    (part,) = leaves(out)
    assert part.transfer_encoding == "base64"
    assert mime.decoded_body(out, part) == PAYLOAD


def test_messages_without_binary_parts_are_left_alone() -> None:
    for raw in (b"Subject: x\r\n\r\n8bit \xe4\r\n",
                b"Content-Transfer-Encoding: base64\r\n\r\nAA==\r\n",
                b"Content-Type: multipart/mixed; boundary=b\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"):
        assert encode_binary_parts(raw) is raw


def test_needs_base64() -> None:
    raw = b"Content-Transfer-Encoding: x-unknown\r\n\r\n\0"
    assert not needs_base64(raw, mime.parse(raw))
    raw = b"Content-Transfer-Encoding: BINARY\r\n\r\n"
    assert needs_base64(raw, mime.parse(raw))


def test_base64_lines_wrap_at_76() -> None:
    lines = base64_lines(bytes(100)).split(b"\r\n")
    assert [len(line) for line in lines] == [76, 60]
    assert base64_lines(b"", b"\n") == b""
    assert base64_lines(bytes(57), b"\n") == b"A" * 76
