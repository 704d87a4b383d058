"""Binary MIME parts re-encoded as base64, for messages APPENDed as literal8 (RFC 3516 4.4).

A leaf part labelled ``Content-Transfer-Encoding: binary``, or one with an identity encoding
(7bit, 8bit) whose body holds a NUL octet, cannot be sent to a client as BODY[...]: such a part
is stored base64-encoded instead, its Content-Transfer-Encoding field saying so. BINARY[...]
still returns the octets as sent; nothing else in the message changes.
"""

from __future__ import annotations

import base64

from postoffice.message import mime

__all__ = ["base64_lines", "encode_binary_parts", "needs_base64"]

_LINE = 76
"""Encoded characters per body line (RFC 2045 6.8)."""
_IDENTITY = frozenset({"7bit", "8bit"})

Edit = tuple[int, int, bytes]
"""Replace raw[start:end] with the bytes."""


def needs_base64(raw: bytes, part: mime.Part) -> bool:
    """Whether this part's body cannot be sent as IMAP text and has to be encoded."""
    if part.multipart or part.message is not None:
        return False
    if part.transfer_encoding == "binary":
        return True
    body = raw[part.body_start:part.body_end]
    return part.transfer_encoding in _IDENTITY and b"\0" in body


def encode_binary_parts(raw: bytes) -> bytes:
    """The message with every part that `needs_base64` base64-encoded (`raw` itself when
    there is none)."""
    root = mime.parse(raw)
    edits: list[Edit] = []
    for part in root.walk():
        if needs_base64(raw, part):
            edits += _encode_part(raw, part)
    return splice(raw, edits)


def splice(raw: bytes, edits: list[Edit]) -> bytes:
    """`raw` with each (start, end, data) edit's range replaced by its data (ranges apart)."""
    if not edits:
        return raw
    out, pos = [], 0
    for start, end, data in sorted(edits):
        out += [raw[pos:start], data]
        pos = end
    out.append(raw[pos:])
    return b"".join(out)


def base64_lines(data: bytes, eol: bytes = b"\r\n") -> bytes:
    """`data` in base64, lines of 76 characters joined with `eol` (none after the last)."""
    text = base64.b64encode(data)
    return eol.join(text[i:i + _LINE] for i in range(0, len(text), _LINE))


def _encode_part(raw: bytes, part: mime.Part) -> list[Edit]:
    """The edits that relabel the part's header and encode its body."""
    header = raw[part.header_start:part.header_end]
    eol = b"\r\n" if b"\r\n" in header else b"\n"
    body = raw[part.body_start:part.body_end]
    return [(part.body_start, part.body_end, base64_lines(body, eol)),
            *relabel(raw, part, b"base64")]


def relabel(raw: bytes, part: mime.Part, encoding: bytes) -> list[Edit]:
    """The edits that name `encoding` in the part's Content-Transfer-Encoding field (the
    first one; others go; one is added when there is none)."""
    header = raw[part.header_start:part.header_end]
    eol = b"\r\n" if b"\r\n" in header else b"\n"
    field = b"Content-Transfer-Encoding: " + encoding + eol
    edits: list[Edit] = []
    pos = part.header_start
    for name, written in mime.raw_fields(header):
        if name == "content-transfer-encoding":
            edits.append((pos, pos + len(written), field))
            field = b""
        pos += len(written)
    if field:
        edits.append((pos, pos, field))
    return edits
