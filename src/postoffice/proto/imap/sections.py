"""BODY[section]<partial>, BINARY[section]<partial> and BINARY.SIZE[section] contents.

Part numbers follow RFC 9051 6.4.5: the parts of a multipart are its children, a
non-multipart message has its body as part 1, and the parts of a message/rfc822 part are
those of the message it holds. HEADER and TEXT address a message (the root, or the one in a
message/rfc822 part); MIME is the header of any part.
"""

from __future__ import annotations

from postoffice.message.mime import KNOWN_ENCODINGS, Part, decoded_body, raw_fields
from postoffice.proto.imap.fetch import Section


class UnknownTransferEncoding(Exception):
    """BINARY of a part whose Content-Transfer-Encoding we cannot undo (NO [UNKNOWN-CTE])."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding {encoding}")
        self.encoding = encoding


def find_part(root: Part, path: tuple[int, ...]) -> Part | None:
    """The part at `path` (() is the root), None if there is none."""
    current = root
    parts = _message_parts(root)
    for number in path:
        if not 1 <= number <= len(parts):
            return None
        current = parts[number - 1]
        if current.message is not None:
            parts = _message_parts(current.message)
        elif current.multipart:
            parts = current.children
        else:
            parts = [current]
    return current


def _message_parts(message: Part) -> list[Part]:
    return message.children if message.multipart else [message]


def section_bytes(raw: bytes, root: Part, section: Section) -> bytes | None:
    """The octets of BODY[section]; None if the message has no such part."""
    part = find_part(root, section.part)
    if part is None:
        return None
    if section.text is None:
        start = part.header_start if not section.part else part.body_start
        return raw[start:part.body_end]
    if section.text == "MIME":
        return raw[part.header_start:part.header_end] if section.part else None
    message = part if not section.part else part.message
    if message is None:
        return None
    if section.text == "TEXT":
        return raw[message.body_start:message.body_end]
    header = raw[message.header_start:message.header_end]
    if section.text == "HEADER":
        return header
    wanted = {name.lower() for name in section.fields}
    keep = section.text == "HEADER.FIELDS"
    chosen = [field if field.endswith(b"\n") else field + b"\r\n"
              for name, field in raw_fields(header) if (name in wanted) == keep]
    return b"".join(chosen) + b"\r\n"


def partial(data: bytes, origin: int, length: int) -> bytes:
    """<origin.length>: the octets from `origin` on, at most `length` of them."""
    return data[origin:origin + length]


def binary_bytes(raw: bytes, root: Part, section: Section) -> bytes | None:
    """The octets of BINARY[section]: the part's body without its transfer encoding (a
    multipart or message part is sent as it is). Raises UnknownTransferEncoding."""
    if not section.part:
        return raw[root.header_start:root.body_end]
    part = find_part(root, section.part)
    if part is None:
        return None
    if part.multipart or part.message is not None:
        return raw[part.body_start:part.body_end]
    if part.transfer_encoding not in KNOWN_ENCODINGS:
        raise UnknownTransferEncoding(part.transfer_encoding)
    return decoded_body(raw, part)


def binary_size(raw: bytes, root: Part, section: Section) -> int | None:
    """BINARY.SIZE[section]: the length of BINARY[section]."""
    data = binary_bytes(raw, root, section)
    return None if data is None else len(data)
