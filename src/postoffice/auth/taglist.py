"""Tag lists as DMARC and BIMI records use them: ``v=DMARC1; p=reject; rua=mailto:...``.

The syntax is DKIM's (RFC 6376 3.2): ``name=value`` pairs separated by ``;``, whitespace allowed
around names, values and separators, a trailing ``;`` allowed, a duplicated tag an error. Names
are returned as written; each record type decides how strictly it compares them.
"""

from __future__ import annotations

import re

__all__ = ["TagListError", "parse_tags"]

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_WSP = " \t\r\n"


class TagListError(ValueError):
    """The text is not a tag list (a part without ``=``, a bad name, a duplicated tag)."""


def parse_tags(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs in order, values stripped of outer whitespace."""
    parts = text.split(";")
    if parts and not parts[-1].strip(_WSP):
        parts.pop()
    tags: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in parts:
        name, eq, value = part.partition("=")
        name = name.strip(_WSP)
        if not eq or not _TAG_NAME.match(name):
            raise TagListError(f"malformed tag {part.strip(_WSP)!r}")
        if name.lower() in seen:
            raise TagListError(f"duplicated tag {name}=")
        seen.add(name.lower())
        tags.append((name, value.strip(_WSP)))
    return tags
