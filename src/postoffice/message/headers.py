"""Reading the header section of a message (RFC 5322) without parsing the body."""

from __future__ import annotations

import re
from email import errors
from email.headerregistry import HeaderRegistry

_REGISTRY = HeaderRegistry()
_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+$")


def header_end(buffer: bytes) -> int:
    """Offset just past the blank line ending the header section, or -1 if not yet seen.

    A message that starts with CRLF has an empty header section (offset 2)."""
    if buffer.startswith(b"\r\n"):
        return 2
    pos = buffer.find(b"\r\n\r\n")
    return -1 if pos < 0 else pos + 4


def parse_fields(section: bytes) -> list[tuple[str, str]]:
    """(name, unfolded value) pairs in order; malformed lines are skipped."""
    fields: list[tuple[str, str]] = []
    for raw in section.split(b"\r\n"):
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t"):
            if fields:
                previous, text = fields[-1]
                fields[-1] = (previous, text + " " + raw.strip().decode("utf-8", "replace"))
            continue
        name, sep, value = raw.partition(b":")
        if not sep or not _FIELD_NAME.match(name):
            continue
        fields.append((name.decode("ascii"), value.strip().decode("utf-8", "replace")))
    return fields


def field_values(fields: list[tuple[str, str]], name: str) -> list[str]:
    wanted = name.lower()
    return [value for n, value in fields if n.lower() == wanted]


def mailbox_addresses(value: str) -> list[str] | None:
    """The addr-specs of an address-list header value, or None if it does not parse."""
    try:
        parsed = _REGISTRY("From", value)
    except (ValueError, IndexError, TypeError):
        return None
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in parsed.defects):
        return None
    addresses = list(getattr(parsed, "addresses", ()))
    if not addresses or not all(a.username and _valid_domain(a.domain) for a in addresses):
        return None
    return [a.addr_spec for a in addresses]


def _valid_domain(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        return True
    return "." in domain.strip(".") and " " not in domain
