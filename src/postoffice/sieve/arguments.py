"""Which commands and tests exist, what arguments they take, and what each needs declared
with `require`. `split` checks one node's arguments and answers them sorted out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from postoffice.sieve.match import COMPARATORS, RELATIONS
from postoffice.sieve.nodes import Argument, Number, SieveError, Strings, Tag
from postoffice.sieve.variables import EXCLUSIVE, MODIFIERS

MATCH_TYPES = frozenset({"is", "contains", "matches", "count", "value"})
ADDRESS_PARTS = frozenset({"all", "localpart", "domain", "user", "detail"})
BODY_TRANSFORMS = frozenset({"raw", "text"})
"""Body transforms (RFC 5173); :content is not supported."""
_EXCLUSIVE = (MATCH_TYPES, ADDRESS_PARTS, frozenset({"over", "under"}), BODY_TRANSFORMS,
              frozenset({"zone", "originalzone"}), *EXCLUSIVE)
_MATCHING = MATCH_TYPES | {"comparator"}
_VALUED = {"days": "N", "subject": "S", "from": "S", "handle": "S", "addresses": "L",
           "zone": "S"}
"""Tags followed by a value, and its kind (letters as in `Signature.positional`)."""


@dataclass(frozen=True)
class Signature:
    tags: frozenset[str]
    positional: str
    """One letter per positional argument: L string list, S one string, N number."""
    capability: str = ""
    """What `require` must name before the command or test is used ("" for the core)."""


COMMANDS = {
    "require": Signature(frozenset(), "L"),
    "if": Signature(frozenset(), ""),
    "elsif": Signature(frozenset(), ""),
    "else": Signature(frozenset(), ""),
    "stop": Signature(frozenset(), ""),
    "keep": Signature(frozenset({"flags"}), ""),
    "discard": Signature(frozenset(), ""),
    "fileinto": Signature(frozenset({"create", "copy", "flags"}), "S", "fileinto"),
    "redirect": Signature(frozenset({"copy"}), "S"),
    "reject": Signature(frozenset(), "S", "reject"),
    "ereject": Signature(frozenset(), "S", "ereject"),
    "set": Signature(frozenset(MODIFIERS), "SS", "variables"),
    "vacation": Signature(frozenset({*_VALUED, "mime"}), "S", "vacation"),
    "setflag": Signature(frozenset(), "L", "imap4flags"),
    "addflag": Signature(frozenset(), "L", "imap4flags"),
    "removeflag": Signature(frozenset(), "L", "imap4flags"),
}
TESTS = {
    "address": Signature(_MATCHING | ADDRESS_PARTS, "LL"),
    "envelope": Signature(_MATCHING | ADDRESS_PARTS, "LL", "envelope"),
    "header": Signature(_MATCHING, "LL"),
    "exists": Signature(frozenset(), "L"),
    "size": Signature(frozenset({"over", "under"}), "N"),
    "true": Signature(frozenset(), ""),
    "false": Signature(frozenset(), ""),
    "not": Signature(frozenset(), ""),
    "anyof": Signature(frozenset(), ""),
    "allof": Signature(frozenset(), ""),
    "string": Signature(_MATCHING, "LL", "variables"),
    "hasflag": Signature(_MATCHING, "L", "imap4flags"),
    "spamtest": Signature(_MATCHING | {"percent"}, "S", "spamtest"),
    "body": Signature(_MATCHING | BODY_TRANSFORMS, "L", "body"),
    "date": Signature(_MATCHING | {"zone", "originalzone"}, "SSL", "date"),
    "currentdate": Signature(_MATCHING | {"zone"}, "SL", "date"),
    "mailboxexists": Signature(frozenset(), "L", "mailbox"),
}
TAG_CAPABILITIES = {"copy": "copy", "user": "subaddress", "detail": "subaddress",
                    "create": "mailbox", "count": "relational", "value": "relational",
                    "flags": "imap4flags", "percent": "spamtestplus"}


@dataclass(frozen=True)
class Arguments:
    tags: frozenset[str]
    comparator: str = "i;ascii-casemap"
    positional: tuple[Strings | Number, ...] = field(default=())
    relation: str = ""
    """gt, ge, lt, le, eq or ne after :count or :value (RFC 5231)."""
    flags: tuple[str, ...] | None = None
    """The string list after :flags (RFC 5232); None without :flags."""
    tagged: Mapping[str, Strings | Number] = field(default_factory=dict)
    """The values after :days, :subject, :from, :handle, :addresses and :zone."""

    def strings(self, index: int) -> tuple[str, ...]:
        value = self.positional[index]
        assert isinstance(value, Strings)
        return value.values

    def number(self, index: int) -> int:
        value = self.positional[index]
        assert isinstance(value, Number)
        return value.value

    def choice(self, options: frozenset[str], default: str) -> str:
        return next(iter(self.tags & options), default)


def split(name: str, signature: Signature, args: tuple[Argument, ...], line: int) -> Arguments:
    tags: set[str] = set()
    comparator, relation = "i;ascii-casemap", ""
    flags: tuple[str, ...] | None = None
    tagged: dict[str, Strings | Number] = {}
    positional: list[Strings | Number] = []
    items = iter(args)
    for arg in items:
        if not isinstance(arg, Tag):
            positional.append(arg)
            continue
        if positional:
            raise SieveError(f"{name}: tag :{arg.name} after the positional arguments", line)
        if arg.name not in signature.tags:
            raise SieveError(f"{name}: unknown tag :{arg.name}", line)
        clash = [group for group in _EXCLUSIVE if arg.name in group and tags & group]
        if arg.name in tags or clash:
            raise SieveError(f"{name}: tag :{arg.name} conflicts with an earlier tag", line)
        tags.add(arg.name)
        if arg.name == "comparator":
            value = next(items, None)
            if not isinstance(value, Strings) or len(value.values) != 1:
                raise SieveError(f"{name}: :comparator takes one string", line)
            comparator = value.values[0].lower()
            if comparator not in COMPARATORS:
                raise SieveError(f"{name}: unsupported comparator {comparator!r}", line)
        if arg.name in ("count", "value"):
            value = next(items, None)
            if not isinstance(value, Strings) or len(value.values) != 1 or \
                    value.values[0].lower() not in RELATIONS:
                raise SieveError(f"{name}: :{arg.name} takes one of {', '.join(RELATIONS)}",
                                 line)
            relation = value.values[0].lower()
        if arg.name in _VALUED:
            value = next(items, None)
            kind = _VALUED[arg.name]
            if not (isinstance(value, Number) if kind == "N" else isinstance(value, Strings)
                    and (kind == "L" or not value.bracketed and len(value.values) == 1)):
                raise SieveError(f"{name}: :{arg.name} takes {_describe(kind)}", line)
            assert value is not None and not isinstance(value, Tag)
            tagged[arg.name] = value
        if arg.name == "flags":
            value = next(items, None)
            if not isinstance(value, Strings):
                raise SieveError(f"{name}: :flags takes a string list", line)
            flags = value.values
    kinds = "".join("N" if isinstance(arg, Number) else "S" if not arg.bracketed and
                    len(arg.values) == 1 else "L" for arg in positional)
    expected = signature.positional
    if len(kinds) != len(expected) or not all(
            got == want or (want, got) == ("L", "S") for want, got in zip(expected, kinds, strict=True)):
        raise SieveError(f"{name}: wrong arguments (expected {_describe(expected)})", line)
    if comparator == "i;ascii-numeric" and tags & {"contains", "matches"}:
        raise SieveError(f"{name}: i;ascii-numeric cannot do :contains or :matches", line)
    return Arguments(frozenset(tags), comparator, tuple(positional), relation, flags, tagged)


def _describe(kinds: str) -> str:
    words = {"L": "a string list", "S": "a string", "N": "a number"}
    return ", ".join(words[kind] for kind in kinds) or "none"
