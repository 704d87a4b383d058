"""SEARCH without a view per message, for the keys clients send most: flags (UNSEEN, FLAGGED,
KEYWORD ...), RECENT/NEW/OLD, FROM/TO/CC/BCC/SUBJECT, and the internal date and size
(BEFORE/ON/SINCE, LARGER/SMALLER), combined with AND, OR and NOT.

Flag keys are tested once per distinct flag list of the folder (a folder has few), not once
per message. Date and size keys test the message rows the session holds (a column of them). Text keys test the needle against a column of the folder: per message, the
case-folded values of that header field from the stored summaries (for address fields also
the addresses written out plainly), as matching.py's own test reads them. A column is built
once per session and kept until the session's message list changes (`Selected.generation`).

The answers are those of matching.search over access.content.View, message for message: a
key that reads header fields skips messages whose row is gone (expunged meanwhile, not yet
reported), as the view builder does; a key on flags alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any, cast

from postoffice.access.content import ContentCache, summaries
from postoffice.access.selected import Selected
from postoffice.proto.imap import matching
from postoffice.proto.imap.header_values import plain_addresses
from postoffice.proto.imap.search import And, Criterion, Not, Or, SearchKey
from postoffice.storage import Store

TEXT_FIELDS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
"""Search keys on a summary field, and the field."""
_FLAG_KEYS = frozenset({"ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "UNANSWERED",
                        "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "KEYWORD", "UNKEYWORD",
                        "ALL"})
_RECENT_KEYS = frozenset({"RECENT", "OLD", "NEW"})
_ROW_KEYS = frozenset({"BEFORE", "ON", "SINCE", "LARGER", "SMALLER"})
ROWS = "#rows"
"""The column of message rows (internal date, size) the row keys read."""
_SEPARATOR = "\0"

Column = list[tuple[str, tuple[str, ...]] | None]
"""Per message (by position): the field's searchable strings joined by NUL, and the strings
themselves; None when the message's row is gone."""


def fields(key: SearchKey) -> set[str] | None:
    """The summary fields the key reads, or None when this module cannot answer it."""
    if isinstance(key, Criterion):
        if key.name in _FLAG_KEYS or key.name in _RECENT_KEYS:
            return set()
        if key.name in TEXT_FIELDS and isinstance(key.value, str):
            return {TEXT_FIELDS[key.name]}
        if key.name in _ROW_KEYS:
            return {ROWS}
        return None
    if isinstance(key, Not):
        return fields(key.key)
    if isinstance(key, Or):
        left, right = fields(key.left), fields(key.right)
        return None if left is None or right is None else left | right
    if isinstance(key, And):
        found: set[str] = set()
        for k in key.keys:
            more = fields(k)
            if more is None:
                return None
            found |= more
        return found
    return None


def ready(key: SearchKey, view: Selected) -> bool:
    """The key can be answered from memory alone (its columns are built)."""
    wanted = fields(key)
    return wanted is not None and all(view.column(f) is not None for f in wanted)


def search(key: SearchKey, view: Selected, store: Store | None, cache: ContentCache,
           zone: tzinfo = UTC) -> list[int] | None:
    """0-based positions of the matching messages, ascending; None when the key is not one
    this module answers. Without a store, the key's columns must be `ready`. `zone`: the
    server's, in which BEFORE/ON/SINCE take the internal date's day."""
    wanted = fields(key)
    if wanted is None:
        return None
    kept = view.kept(("search", key))
    if kept is not None:
        return list(kept)
    columns: dict[str, Column] = {}
    for name in wanted:
        column = view.column(name)
        if column is None:
            if store is None:
                return None
            column = build_column(view, store, cache, name)
        columns[name] = column
    hits = _evaluate(key, view, columns, zone)
    if columns:  # a key on header fields leaves out messages whose row is gone
        present = next(iter(columns.values()))
        found = [i for i, (hit, entry) in enumerate(zip(hits, present, strict=True))
                 if hit and entry is not None]
    else:
        found = [i for i, hit in enumerate(hits) if hit]
    view.keep(("search", key), tuple(found))
    return found


def build_column(view: Selected, store: Store, cache: ContentCache, name: str) -> Column:
    rows = view.rows(store, view.uids)
    if name == ROWS:
        kept: Any = [rows.get(uid) for uid in view.uids]
        view.keep_column(name, kept)
        return cast(Column, kept)
    found = summaries(store, cache, [row.blob for row in rows.values()])
    address = name != "subject"
    made: dict[str, tuple[str, tuple[str, ...]]] = {}
    column: Column = []
    for uid in view.uids:
        row = rows.get(uid)
        if row is None:
            column.append(None)
            continue
        entry = made.get(row.blob)
        if entry is None:
            values = cache.fields(row.blob, found[row.blob].fields).get(name, ())
            strings: list[str] = []
            for value in values:
                strings.append(value.casefold())
                if address:
                    strings.append(plain_addresses(value))
            entry = made[row.blob] = (_SEPARATOR.join(strings), tuple(strings))
        column.append(entry)
    view.keep_column(name, column)
    return column


def _evaluate(key: SearchKey, view: Selected, columns: dict[str, Column],
              zone: tzinfo) -> list[bool]:
    if isinstance(key, Criterion) and key.name in TEXT_FIELDS:
        return _text(str(key.value).casefold(), columns[TEXT_FIELDS[key.name]])
    if isinstance(key, Criterion) and key.name in _ROW_KEYS:
        # matching.py's own predicate: it reads only the internal date and the size
        predicate = matching.compile_search(key, matching.SearchContext(
            largest_seq=0, largest_uid=0, now=0.0, zone=zone))
        rows = cast(list[Any], columns[ROWS])
        return [row is not None and predicate(row) for row in rows]
    if isinstance(key, Not):
        return [not hit for hit in _evaluate(key.key, view, columns, zone)]
    if isinstance(key, Or):
        left = _evaluate(key.left, view, columns, zone)
        right = _evaluate(key.right, view, columns, zone)
        return [a or b for a, b in zip(left, right, strict=True)]
    if isinstance(key, And):
        if not key.keys:
            return [True] * view.exists
        result = _evaluate(key.keys[0], view, columns, zone)
        for k in key.keys[1:]:
            result = [a and b for a, b in zip(result, _evaluate(k, view, columns, zone),
                                              strict=True)]
        return result
    assert isinstance(key, Criterion)
    return _cheap(key, view)


def _text(needle: str, column: Column) -> list[bool]:
    """matching.py's text test (a substring of a folded value; address fields also of the
    addresses written plainly), with the values joined: a needle without NUL cannot match
    across two of them."""
    if _SEPARATOR in needle or not needle:  # "" matches any value, but needs one
        return [entry is not None and any(needle in s for s in entry[1]) for entry in column]
    return [entry is not None and needle in entry[0] for entry in column]


def _cheap(key: Criterion, view: Selected) -> list[bool]:
    """A key on flags (or \\Recent), tested once per distinct flag list."""
    predicate = matching.compile_search(key, _NO_CONTEXT)
    flagsets = _flagsets(view.flags)
    if key.name not in _RECENT_KEYS:
        memo = {text: predicate(_Flags(flags, False))
                for text, flags in flagsets.items()}
        return [memo[text] for text in view.flags]
    recent = view.recent
    cases = {(text, r): predicate(_Flags(flags, r))
             for text, flags in flagsets.items() for r in (False, True)}
    return [cases[text, uid in recent] for text, uid in zip(view.flags, view.uids, strict=True)]


def _flagsets(flags: Sequence[str]) -> dict[str, frozenset[str]]:
    return {text: frozenset(text.split()) for text in set(flags)}


class _Flags:
    """What a flag or \\Recent key reads of a message (proto/imap/view.py)."""

    __slots__ = ("flags", "recent")
    seq = uid = modseq = size = 0
    internal_date = 0.0

    def __init__(self, flags: frozenset[str], recent: bool) -> None:
        self.flags, self.recent = flags, recent

    def header(self, name: str) -> list[str]:
        raise AssertionError("not read by flag keys")

    def header_text(self) -> str:
        raise AssertionError("not read by flag keys")

    def body_text(self) -> str:
        raise AssertionError("not read by flag keys")


_NO_CONTEXT = matching.SearchContext(largest_seq=0, largest_uid=0, now=0.0, zone=UTC)
"""Flag and \\Recent keys read nothing of the context."""
