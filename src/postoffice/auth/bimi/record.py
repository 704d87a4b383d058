"""BIMI Assertion Records and header fields (draft-brand-indicators-for-message-identification).

``default._bimi.example.com TXT "v=BIMI1; l=https://example.com/logo.svg; a=https://..."``

The record is a tag list whose first tag is ``v=BIMI1``. The draft asks receivers not to fix
capitalisation, so tag names and the version compare exactly; unknown tags are ignored. ``l=``
is required but may be empty; ``a=`` is optional; each holds at most one ``https`` URI with a
host name (commas must be percent-encoded). ``l=`` and ``a=`` both empty is a declination.
``lps=`` (local-part selectors) is not read: such records are used with their own selector only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from postoffice.auth.taglist import TagListError, parse_tags
from postoffice.message.fields import RawField, drop_fields

__all__ = [
    "BimiRecord",
    "BimiRecordError",
    "DEFAULT_SELECTOR",
    "RECEIVER_FIELDS",
    "bimi_record",
    "is_bimi_record",
    "location_field",
    "parse_record",
    "remove_receiver_fields",
    "selector_from_field",
]

DEFAULT_SELECTOR = "default"
RECEIVER_FIELDS = ("BIMI-Location", "BIMI-Indicator", "BIMI-Logo-Preference")
"""Fields only the receiving site may write: removed from incoming mail (draft 7.8)."""

_VERSION = re.compile(r"[ \t\r\n]*v[ \t\r\n]*=[ \t\r\n]*BIMI1[ \t\r\n]*(;|\Z)")
_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\Z")


class BimiRecordError(ValueError):
    """The text is not a usable BIMI record (or a URL cannot go into one)."""


@dataclass(frozen=True, slots=True)
class BimiRecord:
    """A parsed Assertion Record."""

    location: str | None
    """``l=``: the HTTPS URL of the SVG Indicator; None when empty."""
    evidence: str | None = None
    """``a=``: the HTTPS URL of the evidence document (a Mark Certificate); None when empty."""
    avatar_preference: str = "brand"
    """``avp=``: ``brand`` or ``personal``."""

    @property
    def declined(self) -> bool:
        """True for ``l=; a=;``: the domain declines to show an Indicator."""
        return self.location is None and self.evidence is None


def is_bimi_record(text: str) -> bool:
    """True if ``text`` starts with the tag ``v=BIMI1`` (discovery drops other TXT records)."""
    return _VERSION.match(text) is not None


def parse_record(text: str) -> BimiRecord:
    """The record ``text`` stands for; raises :class:`BimiRecordError`."""
    if not is_bimi_record(text):
        raise BimiRecordError("record does not start with v=BIMI1")
    try:
        tags = dict(parse_tags(text))
    except TagListError as exc:
        raise BimiRecordError(str(exc)) from None
    if "l" not in tags:
        raise BimiRecordError("l= is missing")
    avp = tags.get("avp", "brand")
    return BimiRecord(
        location=_https_url(tags["l"], "l"),
        evidence=_https_url(tags.get("a", ""), "a"),
        avatar_preference=avp if avp in ("brand", "personal") else "brand",
    )


def bimi_record(logo_url: str, evidence_url: str | None = None) -> str:
    """The TXT record text to publish at ``default._bimi.<domain>`` for our own domains."""
    logo = _https_url(logo_url, "l")
    if logo is None:
        raise BimiRecordError("the logo URL is required")
    text = f"v=BIMI1; l={logo};"
    evidence = _https_url(evidence_url or "", "a")
    return f"{text} a={evidence};" if evidence else text


def selector_from_field(value: str) -> str | None:
    """The selector named by a ``BIMI-Selector`` value (``v=BIMI1; s=brand1;``), lower case, or
    None when the value is not valid (then ``default`` is used). Callers pass the field only when
    a DMARC-aligned DKIM signature covers it (draft 5.5)."""
    if not is_bimi_record(value):
        return None
    try:
        selector = dict(parse_tags(value)).get("s", "")
    except TagListError:
        return None
    return selector.lower() if _SELECTOR.match(selector) else None


def location_field(record: BimiRecord, *, evidence_verified: bool = False) -> bytes:
    """The ``BIMI-Location`` field (CRLF-terminated) for mail that passed BIMI. ``a=`` is named
    only when its evidence document was verified (draft 5.2)."""
    parts = ["v=BIMI1"]
    if record.location:
        parts.append(f"l={record.location}")
    if evidence_verified and record.evidence:
        parts.append(f"a={record.evidence}")
    if len(parts) == 1:
        raise BimiRecordError("the record has no location to point to")
    return ("BIMI-Location: " + "; ".join(parts) + "\r\n").encode("ascii")


def remove_receiver_fields(message: bytes) -> bytes:
    """The message without the BIMI fields only the receiver may add; nothing else changes."""

    def unwanted(field: RawField) -> bool:
        return any(field.is_named(name) for name in RECEIVER_FIELDS)

    return drop_fields(message, unwanted)


def _https_url(value: str, tag: str) -> str | None:
    """``value`` if it is one HTTPS URL with a host name; None if empty."""
    if not value:
        return None
    problem = ""
    if not value.isascii() or any(c in value for c in " \t\r\n,;\"<>\\"):
        problem = "has characters that must be percent-encoded"
    else:
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
        except ValueError:
            parts, host = None, ""
        if parts is None or parts.scheme.lower() != "https":
            problem = "is not an https URL"
        elif "." not in host.strip("."):
            problem = "has no fully qualified host name"
    if problem:
        raise BimiRecordError(f"{tag}={value} {problem}")
    return value
