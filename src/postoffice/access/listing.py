"""LIST / LSUB (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE
RFC 6154, CHILDREN RFC 3348): which names match, and with which attributes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from postoffice.storage.interfaces import Folder
from postoffice.storage.mailboxes import SEPARATOR


@lru_cache(maxsize=256)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """`*` matches anything, `%` anything but the separator; INBOX matches in any case."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    if pattern[:5].upper() == "INBOX":  # INBOX is case-insensitive
        pattern = "INBOX" + pattern[5:]
    return bool(pattern_regex(pattern).match(name))


def join(reference: str, pattern: str) -> str:
    """The reference and pattern combined (RFC 9051 6.3.9: a plain concatenation here)."""
    if not reference or pattern.startswith(SEPARATOR):
        return pattern
    if reference.endswith(SEPARATOR):
        return reference + pattern
    return reference + SEPARATOR + pattern if pattern else reference


@dataclass(frozen=True)
class Entry:
    name: str
    attributes: tuple[str, ...]
    folder: Folder | None
    """None for a name that is only subscribed, or only a parent."""
    child_info: bool = False
    """RECURSIVEMATCH: a child matched the selection (CHILDINFO ("SUBSCRIBED"))."""


def entries(folders: Iterable[Folder], subscribed: Iterable[str], patterns: Iterable[str], *,
            lsub: bool = False, only_subscribed: bool = False, recursive: bool = False,
            only_special: bool = False, show_subscribed: bool = False,
            show_special: bool = True) -> list[Entry]:
    by_name = {f.name: f for f in folders}
    subs = set(subscribed)
    parents = {a for name in by_name for a in _ancestors(name)}
    ancestors = {a for name in subs for a in _ancestors(name)} - subs
    """Parents of subscribed names that are not subscribed themselves."""
    patterns = list(patterns)
    candidates = set(subs) if (lsub or only_subscribed) else set(by_name) | parents
    if lsub or (only_subscribed and recursive):
        candidates |= ancestors
    result: list[Entry] = []
    for name in sorted(candidates):
        if not any(matches(p, name) for p in patterns):
            continue
        if lsub and name in ancestors:
            # RFC 3501 6.3.9: with %, a parent of a subscribed name is listed as \Noselect
            if any("%" in p and matches(p, name) for p in patterns):
                result.append(Entry(name, ("\\Noselect",), by_name.get(name)))
            continue
        folder = by_name.get(name)
        attributes: list[str] = []
        child_info = False
        if only_subscribed and name not in subs:
            # RECURSIVEMATCH: listed for a subscribed descendant, with CHILDINFO
            prefix = name + SEPARATOR
            if not recursive or not any(
                    s.startswith(prefix) and not any(matches(p, s) for p in patterns)
                    for s in subs):
                continue
            child_info = True
        if folder is None or not folder.selectable:
            exists = folder is not None or name in parents
            if not exists and not lsub:
                attributes.append("\\NonExistent")
            elif not child_info or folder is not None:
                attributes.append("\\Noselect")
        if not lsub:
            has_children = name in parents
            attributes.append("\\HasChildren" if has_children else "\\HasNoChildren")
        if (show_subscribed or only_subscribed) and name in subs and not lsub:
            attributes.append("\\Subscribed")
        use = folder.special_use if folder is not None else None
        if only_special and not use:
            continue
        if use and show_special and not lsub:
            attributes.append(use)
        result.append(Entry(name, tuple(attributes), folder, child_info))
    return result


def _ancestors(name: str) -> list[str]:
    parts = name.split(SEPARATOR)
    return [SEPARATOR.join(parts[:i]) for i in range(1, len(parts))]
