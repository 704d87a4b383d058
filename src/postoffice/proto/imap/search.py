"""SEARCH keys (RFC 9051 6.4.4, search-key) parsed into a tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from postoffice.proto.imap.errors import BadCharset, GrammarError
from postoffice.proto.imap.scanner import MAX_NUMBER64, Scanner
from postoffice.proto.imap.values import SequenceSet, flag, search_date, sequence_set


@dataclass(frozen=True)
class SearchKey:
    """Base of the key tree."""


@dataclass(frozen=True)
class Criterion(SearchKey):
    """A leaf: `name` upper-case (ALL, SEEN, FROM, LARGER, HEADER, KEYWORD, ...)."""

    name: str
    value: str | int | date | tuple[str, str] | None = None
    """The argument: text, number, date, flag keyword, (field, text) for HEADER, or None."""


@dataclass(frozen=True)
class Sequence(SearchKey):
    """A sequence set (message numbers) or `UID set`."""

    set: SequenceSet
    uid: bool = False


@dataclass(frozen=True)
class And(SearchKey):
    keys: tuple[SearchKey, ...]


@dataclass(frozen=True)
class Or(SearchKey):
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class Not(SearchKey):
    key: SearchKey


_PLAIN = {"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "UNANSWERED", "UNDELETED",
          "UNDRAFT", "UNFLAGGED", "UNSEEN", "NEW", "OLD", "RECENT"}
_TEXT = {"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"}
_DATE = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"}
_NUMBER = {"LARGER", "SMALLER", "OLDER", "YOUNGER"}
_FLAG = {"KEYWORD", "UNKEYWORD"}


class _Parser:
    def __init__(self, scanner: Scanner, charset: str) -> None:
        self.s = scanner
        self.charset = charset

    def text(self) -> str:
        raw = self.s.astring()
        try:
            return raw.decode(self.charset)
        except (LookupError, UnicodeDecodeError):
            raise BadCharset(f"search text is not {self.charset}") from None

    def key(self) -> SearchKey:
        s = self.s
        if s.peek() == ord("("):
            return And(tuple(s.paren_list(self.key, allow_empty=False)))
        if (s.peek() or 0) in b"0123456789*$":
            return Sequence(sequence_set(s))
        name = s.atom().upper()
        if name in _PLAIN:
            return Criterion(name)
        if name not in ("MODSEQ", "UID") and name not in _TEXT | _DATE | _NUMBER | _FLAG \
                and name not in ("HEADER", "NOT", "OR"):
            raise GrammarError(f"unknown search key {name}")
        s.sp()
        if name in _TEXT:
            return Criterion(name, self.text())
        if name in _DATE:
            return Criterion(name, search_date(s))
        if name in _NUMBER:
            return Criterion(name, s.number(MAX_NUMBER64))
        if name in _FLAG:
            return Criterion(name, flag(s))
        if name == "HEADER":
            field = s.astring().decode("ascii", "replace")
            s.sp()
            return Criterion(name, (field, self.text()))
        if name == "UID":
            return Sequence(sequence_set(s), uid=True)
        if name == "MODSEQ":  # RFC 7162: MODSEQ [entry-name entry-type-req] mod-sequence
            if s.peek() == ord('"'):
                s.quoted()
                s.sp()
                s.atom()
                s.sp()
            return Criterion(name, s.number(MAX_NUMBER64))
        if name == "NOT":
            return Not(self.key())
        if name == "OR":
            left = self.key()
            s.sp()
            return Or(left, self.key())
        raise GrammarError(f"unknown search key {name}")


def search_keys(scanner: Scanner, charset: str = "utf-8") -> SearchKey:
    """1*search-key separated by SP to the end of the command; one key stands alone."""
    parser = _Parser(scanner, charset)
    keys = [parser.key()]
    while scanner.try_char(" "):
        keys.append(parser.key())
    return keys[0] if len(keys) == 1 else And(tuple(keys))
