"""Comparators, match types and address parts (RFC 5228 sections 2.7, 5.1; RFC 5233).

Comparators: `i;octet` (exact), `i;ascii-casemap` (A-Z folded to a-z, the default) and
`i;ascii-numeric` (RFC 4790: the leading digits as a number; no leading digit is greater than
any number). Relations (RFC 5231): `relate` orders a value against a key.
Match types: `:is`, `:contains` and `:matches`, where `*` is any run of characters, `?` one
character and `\\` makes the next character literal."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

COMPARATORS = ("i;octet", "i;ascii-casemap", "i;ascii-numeric")
MatchType = Literal["is", "contains", "matches"]
AddressPart = Literal["all", "localpart", "domain", "user", "detail"]
SEPARATOR = "+"
"""Between user and detail in a local part (RFC 5233)."""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_Key = tuple[int, int, str]
RELATIONS: dict[str, Callable[[_Key, _Key], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
    "eq": operator.eq, "ne": operator.ne}
_DIGITS = re.compile(r"[0-9]*")


def relate(value: str, key: str, relation: str, comparator: str) -> bool:
    """Whether `value` stands in `relation` (gt, ge, lt, le, eq, ne) to `key`."""
    return RELATIONS[relation](_order(value, comparator), _order(key, comparator))


def _order(value: str, comparator: str) -> _Key:
    if comparator == "i;ascii-numeric":
        digits = _DIGITS.match(value)
        assert digits is not None
        return (0, int(digits.group()), "") if digits.group() else (1, 0, "")
    return 0, 0, value.translate(_ASCII_LOWER) if comparator == "i;ascii-casemap" else value


def matches(value: str, key: str, match_type: MatchType, comparator: str) -> bool:
    if comparator == "i;ascii-casemap":
        value, key = value.translate(_ASCII_LOWER), key.translate(_ASCII_LOWER)
    if match_type == "is":
        return relate(value, key, "eq", comparator)
    if match_type == "contains":
        return key in value
    return _pattern(key).fullmatch(value) is not None


def match_groups(value: str, key: str, comparator: str) -> tuple[str, ...] | None:
    """What `:matches` with `key` gives for `value`: the whole value, then what each wildcard
    took (each `*` as little as possible, RFC 5229 section 3.2); None when it does not match."""
    folded, key = value, key
    if comparator == "i;ascii-casemap":
        folded, key = value.translate(_ASCII_LOWER), key.translate(_ASCII_LOWER)
    found = _pattern(key).fullmatch(folded)
    if found is None:
        return None
    return (value, *(value[start:end] for start, end in
                     (found.span(group) for group in range(1, found.re.groups + 1))))


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
            parts.append("(.*?)")
        elif char == "?":
            parts.append("(.)")
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
