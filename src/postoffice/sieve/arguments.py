"""Which commands and tests exist, what arguments they take, and what each needs declared
with `require`. `split` checks one node's arguments and answers them sorted out."""

from __future__ import annotations

from dataclasses import dataclass, field

from postoffice.sieve.match import COMPARATORS
from postoffice.sieve.nodes import Argument, Number, SieveError, Strings, Tag

MATCH_TYPES = frozenset({"is", "contains", "matches"})
ADDRESS_PARTS = frozenset({"all", "localpart", "domain", "user", "detail"})
_EXCLUSIVE = (MATCH_TYPES, ADDRESS_PARTS, frozenset({"over", "under"}))
_MATCHING = MATCH_TYPES | {"comparator"}


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
    "keep": Signature(frozenset(), ""),
    "discard": Signature(frozenset(), ""),
    "fileinto": Signature(frozenset({"create", "copy"}), "S", "fileinto"),
    "redirect": Signature(frozenset({"copy"}), "S"),
    "reject": Signature(frozenset(), "S", "reject"),
    "ereject": Signature(frozenset(), "S", "ereject"),
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
}
TAG_CAPABILITIES = {"copy": "copy", "user": "subaddress", "detail": "subaddress",
                    "create": "mailbox"}


@dataclass(frozen=True)
class Arguments:
    tags: frozenset[str]
    comparator: str = "i;ascii-casemap"
    positional: tuple[Strings | Number, ...] = field(default=())

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
    comparator = "i;ascii-casemap"
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
    kinds = "".join("N" if isinstance(arg, Number) else "S" if not arg.bracketed and
                    len(arg.values) == 1 else "L" for arg in positional)
    expected = signature.positional
    if len(kinds) != len(expected) or not all(
            got == want or (want, got) == ("L", "S") for want, got in zip(expected, kinds, strict=True)):
        raise SieveError(f"{name}: wrong arguments (expected {_describe(expected)})", line)
    return Arguments(frozenset(tags), comparator, tuple(positional))


def _describe(kinds: str) -> str:
    words = {"L": "a string list", "S": "a string", "N": "a number"}
    return ", ".join(words[kind] for kind in kinds) or "none"
