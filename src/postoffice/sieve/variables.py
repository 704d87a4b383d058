"""Variables (RFC 5229): `${name}` and `${N}` references, and the modifiers of `set`.

Names are case-insensitive identifiers; `${0}` .. `${N}` are what the last successful
`:matches` test gave (0: the whole value, then one per wildcard). A reference to an unset
variable is ""; a reference that is not a valid name (`${a.b}`, `${}`) stays as written."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}")
MODIFIERS = ("lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "length")
"""In the order they apply (precedence 40, 30, 20, 10 in section 4.1)."""
EXCLUSIVE = (frozenset({"lower", "upper"}), frozenset({"lowerfirst", "upperfirst"}))


def expand(text: str, variables: Mapping[str, str], groups: Sequence[str]) -> str:
    def value(reference: re.Match[str]) -> str:
        name = reference.group(1)
        if name.isdigit():
            index = int(name)
            return groups[index] if index < len(groups) else ""
        return variables.get(name.lower(), "")
    return _REFERENCE.sub(value, text)


def modify(value: str, modifiers: Collection[str]) -> str:
    """`value` with the `set` modifiers applied."""
    for modifier in MODIFIERS:
        if modifier not in modifiers:
            continue
        if modifier in ("lower", "upper"):
            value = value.lower() if modifier == "lower" else value.upper()
        elif modifier in ("lowerfirst", "upperfirst"):
            first = value[:1].lower() if modifier == "lowerfirst" else value[:1].upper()
            value = first + value[1:]
        elif modifier == "quotewildcard":
            value = re.sub(r"([*?\\])", r"\\\1", value)
        else:
            value = str(len(value))
    return value
