"""BODY and BODYSTRUCTURE (RFC 9051 7.5.2, RFC 3501 7.4.2) from a parsed part tree.

Sizes are octets of the body as stored; `lines` counts its line feeds. A multipart whose
boundary never appeared gets one empty text/plain child, as a multipart must have one.
"""

from __future__ import annotations

from postoffice.message.mime import Params, Part
from postoffice.proto.imap.envelope import envelope
from postoffice.proto.imap.responses import Joined, Value

_EMPTY_TEXT: tuple[Value, ...] = ("text", "plain", ("charset", "us-ascii"), None, None, "7bit",
                                  0, 0)
_EMPTY_EXTENSION: tuple[Value, ...] = (None, None, None, None)


def body_structure(raw: bytes, part: Part, extended: bool) -> Value:
    """BODYSTRUCTURE if `extended`, else BODY, of `part` (usually the root)."""
    if part.multipart:
        children: list[Value] = [body_structure(raw, child, extended)
                                 for child in part.children]
        if not children:
            children = [_EMPTY_TEXT + _EMPTY_EXTENSION if extended else _EMPTY_TEXT]
        fields: list[Value] = [Joined(tuple(children)), part.subtype]
        if extended:
            fields += [_params(part.type_params, False), *_common(part)]
        return tuple(fields)
    text = part.type == "text"
    fields = [part.type, part.subtype, _params(part.type_params, text), part.content_id,
              part.description, part.transfer_encoding, part.body_end - part.body_start]
    if text:
        fields.append(_lines(raw, part))
    elif part.message is not None:
        fields += [envelope(raw, part.message), body_structure(raw, part.message, extended),
                   _lines(raw, part)]
    if extended:
        fields += [part.md5, *_common(part)]
    return tuple(fields)


def _lines(raw: bytes, part: Part) -> int:
    return raw.count(b"\n", part.body_start, part.body_end)


def _params(params: Params, default_charset: bool) -> Value:
    flat: list[Value] = [item for pair in params for item in pair]
    if default_charset and not any(name == b"charset" for name, _ in params):
        flat += [b"charset", b"us-ascii"]
    return tuple(flat) or None


def _common(part: Part) -> list[Value]:
    """body-fld-dsp, body-fld-lang, body-fld-loc."""
    disposition = (None if part.disposition is None
                   else (part.disposition, _params(part.disposition_wire, False)))
    return [disposition, part.language or None, part.location]
