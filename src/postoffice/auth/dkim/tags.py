"""DKIM tag lists (RFC 6376 3.2): the syntax of DKIM-Signature values and key records.

``v=1; a=rsa-sha256; b=...`` is a list of ``name=value`` pairs separated by ``;``, with folding
whitespace allowed around names, values and separators. Tag names are case-sensitive; a
duplicated tag makes the whole list invalid.
"""

from __future__ import annotations

import re

from postoffice.auth.dkim.errors import DkimError

__all__ = ["parse_tag_list", "qp_encode", "qp_decode", "remove_whitespace"]

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_FWS = re.compile(r"[ \t\r\n]+")
# dkim-safe-char (RFC 6376 2.11): printable ASCII except ';' and '='.
_QP_UNSAFE = re.compile(rb"[^\x21-\x3a\x3c\x3e-\x7e]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def parse_tag_list(value: str | bytes) -> dict[str, str]:
    """Tag names to values (outer whitespace stripped, inner folding kept as it is written).

    Raises :class:`DkimError` for a syntax error or a duplicated tag."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    tags: dict[str, str] = {}
    parts = value.split(";")
    if parts and not parts[-1].strip(" \t\r\n"):
        parts.pop()  # a trailing ';' is allowed
    for part in parts:
        name, eq, tag_value = part.partition("=")
        name = name.strip(" \t\r\n")
        if not eq or not _TAG_NAME.match(name):
            raise DkimError(f"malformed DKIM tag {part.strip()!r}")
        if name in tags:
            raise DkimError(f"duplicated DKIM tag {name}=")
        tags[name] = tag_value.strip(" \t\r\n")
    return tags


def remove_whitespace(value: str) -> str:
    """A tag value with all folding whitespace removed (``b=``, ``bh=``, ``p=``)."""
    return _FWS.sub("", value)


def qp_encode(value: str) -> str:
    """DKIM-Quoted-Printable (RFC 6376 2.11) of a UTF-8 string, e.g. for ``i=``."""
    return _QP_UNSAFE.sub(lambda m: b"=%02X" % m.group()[0], value.encode("utf-8")).decode("ascii")


def qp_decode(value: str) -> str:
    """The text a DKIM-Quoted-Printable value stands for (folding whitespace ignored)."""
    raw = remove_whitespace(value).encode("utf-8", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", "replace")
