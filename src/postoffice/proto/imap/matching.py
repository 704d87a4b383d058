"""SEARCH evaluation (RFC 9051 6.4.4, RFC 5032 OLDER/YOUNGER, RFC 5182 `$`, RFC 7162 MODSEQ).

`compile_search` turns the key tree into one predicate, built once per command, so a key on
flags, numbers or dates costs a few attribute reads per message. Conjunctions test cheap
keys first (flags, sizes, dates, numbers, then headers, then bodies), so `UNSEEN BODY x`
reads only the bodies of unseen messages; each body is read at most once per search.
Text keys match substrings under Unicode case folding.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TypeVar

from postoffice.message.dates import parse_date
from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.header_values import plain_addresses
from postoffice.proto.imap.search import And, Criterion, Not, Or, SearchKey
from postoffice.proto.imap.search import Sequence as SequenceKey
from postoffice.proto.imap.values import SequenceSet
from postoffice.proto.imap.view import MessageView

Predicate = Callable[[MessageView], bool]
V = TypeVar("V", bound=MessageView)

_FLAGS = {"ANSWERED": "\\Answered", "DELETED": "\\Deleted", "DRAFT": "\\Draft",
          "FLAGGED": "\\Flagged", "SEEN": "\\Seen"}
_ADDRESS_FIELDS = {"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc"}
_CHEAP, _HEADER, _BODY = 0, 1, 2
_PARTIAL = re.compile(r"(-?[1-9]\d{0,9}):(-?[1-9]\d{0,9})")


@dataclass(frozen=True)
class SearchContext:
    """What a search needs besides the messages."""

    largest_seq: int
    """`*` in a sequence set: the number of messages."""
    largest_uid: int
    """`*` in a UID set: the highest UID in the mailbox."""
    now: float
    zone: tzinfo
    """The server's time zone: BEFORE/ON/SINCE compare the internal date's day in it."""
    saved: frozenset[int] = frozenset()
    """The saved search result (`$`, RFC 5182) as UIDs."""


class _Texts:
    """The body and header text of the message being tested, read once each."""

    def __init__(self) -> None:
        self.view: MessageView | None = None
        self.body = ""
        self.view_h: MessageView | None = None
        self.headers = ""

    def body_of(self, view: MessageView) -> str:
        if view is not self.view:
            self.body = view.body_text().casefold()
            self.view = view
        return self.body

    def headers_of(self, view: MessageView) -> str:
        if view is not self.view_h:
            self.headers = view.header_text().casefold()
            self.view_h = view
        return self.headers


def cost(key: SearchKey) -> int:
    """0 for keys on attributes, 1 for keys on header fields, 2 for keys on the body."""
    if isinstance(key, Criterion):
        if key.name in ("BODY", "TEXT"):
            return _BODY
        if key.name in _ADDRESS_FIELDS or key.name in ("SUBJECT", "HEADER") or \
                key.name.startswith("SENT"):
            return _HEADER
        return _CHEAP
    if isinstance(key, Not):
        return cost(key.key)
    if isinstance(key, Or):
        return max(cost(key.left), cost(key.right))
    if isinstance(key, And):
        return max((cost(k) for k in key.keys), default=_CHEAP)
    return _CHEAP


class _Compiler:
    def __init__(self, context: SearchContext) -> None:
        self.context = context
        self.texts = _Texts()

    def key(self, key: SearchKey) -> Predicate:
        if isinstance(key, Criterion):
            return self.criterion(key)
        if isinstance(key, SequenceKey):
            return self.sequence(key.set, key.uid)
        if isinstance(key, Not):
            inner = self.key(key.key)
            return lambda m: not inner(m)
        if isinstance(key, Or):
            left, right = sorted((key.left, key.right), key=cost)
            first, second = self.key(left), self.key(right)
            return lambda m: first(m) or second(m)
        if isinstance(key, And):
            parts = [self.key(k) for k in sorted(key.keys, key=cost)]
            return _all(parts)
        raise ValueError(f"unknown search key {key!r}")

    def sequence(self, numbers: SequenceSet, uid: bool) -> Predicate:
        if numbers.saved:
            saved = self.context.saved
            return lambda m: m.uid in saved
        largest = self.context.largest_uid if uid else self.context.largest_seq
        spans = _merge(numbers, largest)
        if len(spans) == 1:
            low, high = spans[0]
            if uid:
                return lambda m: low <= m.uid <= high
            return lambda m: low <= m.seq <= high
        lows = [low for low, _ in spans]
        highs = [high for _, high in spans]

        def within(number: int) -> bool:
            i = bisect_right(lows, number) - 1
            return i >= 0 and number <= highs[i]
        if uid:
            return lambda m: within(m.uid)
        return lambda m: within(m.seq)

    def criterion(self, key: Criterion) -> Predicate:
        name, value = key.name, key.value
        if name in _FLAGS:
            flag = _FLAGS[name]
            return lambda m: flag in m.flags
        if name.startswith("UN") and name[2:] in _FLAGS:
            flag = _FLAGS[name[2:]]
            return lambda m: flag not in m.flags
        simple = _SIMPLE.get(name)
        if simple is not None:
            return simple
        if name in ("KEYWORD", "UNKEYWORD"):
            has = _keyword(str(value))
            return has if name == "KEYWORD" else (lambda m: not has(m))
        if name in ("LARGER", "SMALLER", "OLDER", "YOUNGER", "MODSEQ"):
            return self.number(name, _integer(value))
        if name in ("BEFORE", "ON", "SINCE"):
            return self.internal_date(name, _date(value))
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return self.sent_date(name, _date(value))
        return self.text(name, value)

    def number(self, name: str, n: int) -> Predicate:
        if name == "LARGER":
            return lambda m: m.size > n
        if name == "SMALLER":
            return lambda m: m.size < n
        if name == "MODSEQ":
            return lambda m: m.modseq >= n
        # RFC 5032 intervals, both ends included as Dovecot does.
        cutoff = self.context.now - n
        if name == "OLDER":
            return lambda m: m.internal_date <= cutoff
        return lambda m: m.internal_date >= cutoff

    def internal_date(self, name: str, day: date) -> Predicate:
        start = _day_start(day, self.context.zone)
        end = _day_start(day + timedelta(days=1), self.context.zone)
        if name == "BEFORE":
            return lambda m: m.internal_date < start
        if name == "SINCE":
            return lambda m: m.internal_date >= start
        return lambda m: start <= m.internal_date < end

    def sent_date(self, name: str, day: date) -> Predicate:
        zone = self.context.zone

        def sent_day(m: MessageView) -> date:
            for value in m.header("Date")[:1]:
                sent = parse_date(value)
                if sent is not None:
                    return sent.date()
            return datetime.fromtimestamp(m.internal_date, zone).date()
        if name == "SENTBEFORE":
            return lambda m: sent_day(m) < day
        if name == "SENTSINCE":
            return lambda m: sent_day(m) >= day
        return lambda m: sent_day(m) == day

    def text(self, name: str, value: object) -> Predicate:
        texts = self.texts
        if name == "HEADER":
            if not (isinstance(value, tuple) and len(value) == 2):
                raise ValueError("HEADER needs a field name and a text")
            field_name, needle = str(value[0]), str(value[1]).casefold()
            return lambda m: any(needle in v.casefold() for v in m.header(field_name))
        needle = str(value).casefold()
        if name == "BODY":
            return lambda m: needle in texts.body_of(m)
        if name == "TEXT":
            return lambda m: needle in texts.headers_of(m) or needle in texts.body_of(m)
        if name == "SUBJECT":
            return lambda m: any(needle in v.casefold() for v in m.header("Subject"))
        if name in _ADDRESS_FIELDS:
            field_name = _ADDRESS_FIELDS[name]
            return lambda m: any(_address_match(needle, v) for v in m.header(field_name))
        raise ValueError(f"unknown search key {name}")


def _address_match(needle: str, value: str) -> bool:
    """In the field as written, or in its addresses written plainly (comments and odd
    spacing inside an address do not hide it)."""
    return needle in value.casefold() or needle in plain_addresses(value)


def _keyword(keyword: str) -> Predicate:
    folded = keyword.casefold()

    def has(m: MessageView) -> bool:
        flags = m.flags
        return keyword in flags or any(f.casefold() == folded for f in flags)
    return has


_SIMPLE: dict[str, Predicate] = {
    "ALL": lambda m: True,
    "RECENT": lambda m: m.recent,
    "OLD": lambda m: not m.recent,
    "NEW": lambda m: m.recent and "\\Seen" not in m.flags,
}


def _all(parts: list[Predicate]) -> Predicate:
    if not parts:
        return _SIMPLE["ALL"]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return lambda m: a(m) and b(m)
    if len(parts) == 3:
        a, b, c = parts
        return lambda m: a(m) and b(m) and c(m)
    return lambda m: all(p(m) for p in parts)


def _merge(numbers: SequenceSet, largest: int) -> list[tuple[int, int]]:
    """The set's ranges resolved (`*` = largest), sorted and merged."""
    spans = sorted(tuple(sorted((largest if a is None else a, largest if b is None else b)))
                   for a, b in numbers.ranges)
    merged: list[tuple[int, int]] = []
    for low, high in spans:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged or [(1, 0)]


def _day_start(day: date, zone: tzinfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def _integer(value: object) -> int:
    if not isinstance(value, int):
        raise ValueError("search key needs a number")
    return value


def _date(value: object) -> date:
    if not isinstance(value, date):
        raise ValueError("search key needs a date")
    return value


def compile_search(key: SearchKey, context: SearchContext) -> Predicate:
    """The key as one predicate; build it once per command."""
    return _Compiler(context).key(key)


def search(key: SearchKey, messages: Iterable[V], context: SearchContext) -> list[V]:
    """The messages that match, in the order given (mailbox order)."""
    matches = compile_search(key, context)
    return [m for m in messages if matches(m)]


def uses_modseq(key: SearchKey) -> bool:
    """Whether the key has a MODSEQ criterion (the answer then carries the highest MODSEQ)."""
    if isinstance(key, Criterion):
        return key.name == "MODSEQ"
    if isinstance(key, Not):
        return uses_modseq(key.key)
    if isinstance(key, Or):
        return uses_modseq(key.left) or uses_modseq(key.right)
    if isinstance(key, And):
        return any(uses_modseq(k) for k in key.keys)
    return False


# -- answers --------------------------------------------------------------------------------

def compact_set(numbers: Iterable[int], ordered: bool = False) -> str:
    """A sequence set such as "1:3,5": sorted and deduplicated, or when `ordered` in the
    order given (ESORT), joining only ascending runs."""
    values = list(numbers) if ordered else sorted(set(numbers))
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        parts.append(str(values[i]) if i == j else f"{values[i]}:{values[j]}")
        i = j + 1
    return ",".join(parts)


def search_response(numbers: Sequence[int], modseq: int | None = None) -> bytes:
    """`* SEARCH 2 5 6`, with ` (MODSEQ n)` when the key used MODSEQ and something matched."""
    line = " ".join(["* SEARCH", *map(str, numbers)])
    if modseq is not None and numbers:
        line += f" (MODSEQ {modseq})"
    return line.encode("ascii") + b"\r\n"


def partial_range(text: str) -> tuple[int, int]:
    """PARTIAL's range (RFC 9394): "first:last" counted from the start, or "-first:-last"
    from the end (-1 the last result); the lower position first. GrammarError otherwise."""
    match = _PARTIAL.fullmatch(text)
    if not match or match.group(1).startswith("-") != match.group(2).startswith("-"):
        raise GrammarError(f"bad PARTIAL range {text!r}")
    low, high = sorted((int(match.group(1)), int(match.group(2))), key=abs)
    return low, high


def _partial(numbers: Sequence[int], span: tuple[int, int], ordered: bool) -> str:
    low, high = span
    if low < 0:
        start, stop = max(len(numbers) + high, 0), len(numbers) + low + 1
    else:
        start, stop = low - 1, high
    chosen = numbers[start:stop] if stop > 0 else []
    rendered = compact_set(chosen, ordered) if chosen else "NIL"
    return f"PARTIAL ({low}:{high} {rendered})"


def esearch_response(tag: str, numbers: Sequence[int], returns: Sequence[str], *,
                     uid: bool = False, modseq: int | None = None, ordered: bool = False,
                     partial: tuple[int, int] | None = None) -> bytes:
    """`* ESEARCH (TAG "t") [UID] MIN .. MAX .. COUNT .. ALL ..` (RFC 4731; `ordered` keeps
    the sort order in ALL, for ESORT). Empty RETURN () means ALL; MIN, MAX and ALL are left
    out when nothing matched. `partial` (from `partial_range`) adds PARTIAL (RFC 9394) over
    the numbers in the order given; `modseq` the highest MODSEQ (RFC 7162)."""
    wanted = {r.upper() for r in returns} or {"ALL"}
    if partial is not None:
        wanted.discard("ALL")
    quoted = tag.replace("\\", "\\\\").replace('"', '\\"')
    parts = [f'* ESEARCH (TAG "{quoted}")']
    if uid:
        parts.append("UID")
    if numbers:
        if "MIN" in wanted:
            parts.append(f"MIN {min(numbers)}")
        if "MAX" in wanted:
            parts.append(f"MAX {max(numbers)}")
    if "COUNT" in wanted:
        parts.append(f"COUNT {len(numbers)}")
    if numbers and "ALL" in wanted:
        parts.append("ALL " + compact_set(numbers, ordered))
    if partial is not None:
        parts.append(_partial(numbers, partial, ordered))
    if modseq is not None and numbers:
        parts.append(f"MODSEQ {modseq}")
    return " ".join(parts).encode("ascii") + b"\r\n"


def highest_modseq(matched: Sequence[MessageView], returns: Sequence[str] | None = None,
                   uid: bool = False) -> int:
    """The MODSEQ a CONDSTORE answer carries: the highest of the matched messages, or with
    RETURN (MIN/MAX) and neither ALL nor COUNT, the highest of those reported (RFC 7162
    3.1.5)."""
    if not matched:
        return 0
    wanted = {r.upper() for r in returns or ()} or {"ALL"}
    if wanted & {"ALL", "COUNT"} or not wanted & {"MIN", "MAX"}:
        return max(m.modseq for m in matched)
    number: Callable[[MessageView], int] = (lambda m: m.uid) if uid else (lambda m: m.seq)
    reported = []
    if "MIN" in wanted:
        reported.append(min(matched, key=number))
    if "MAX" in wanted:
        reported.append(max(matched, key=number))
    return max(m.modseq for m in reported)
