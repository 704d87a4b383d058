"""Comparators, match types and address parts (RFC 5228 sections 2.7, 5.1; RFC 5233).

Comparators: `i;octet` (exact) and `i;ascii-casemap` (A-Z folded to a-z, the default).
Match types: `:is`, `:contains` and `:matches`, where `*` is any run of characters, `?` one
character and `\\` makes the next character literal."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

COMPARATORS = ("i;octet", "i;ascii-casemap")
MatchType = Literal["is", "contains", "matches"]
AddressPart = Literal["all", "localpart", "domain", "user", "detail"]
SEPARATOR = "+"
"""Between user and detail in a local part (RFC 5233)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def matches(value: str, key: str, match_type: MatchType, comparator: str) -> bool:
    if comparator == "i;ascii-casemap":
        value, key = value.translate(_ASCII_LOWER), key.translate(_ASCII_LOWER)
    if match_type == "is":
        return value == key
    if match_type == "contains":
        return key in value
    return _pattern(key).fullmatch(value) is not None


@lru_cache(maxsize=256)
def _pattern(key: str) -> re.Pattern[str]:
    parts = []
    escaped = False
    for char in key:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def address_part(address: str, part: AddressPart) -> str | None:
    """The part of `address` a test compares; None when it has no such part (the null
    address has no local part or domain; a local part without `+` has no detail)."""
    if part == "all":
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    if not address:
        return None
    if part == "localpart":
        return local
    if part == "domain":
        return domain
    user, separator, detail = local.partition(SEPARATOR)
    if part == "user":
        return user
    return detail if separator else None
