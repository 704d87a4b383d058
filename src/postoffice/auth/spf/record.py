"""SPF records (RFC 7208 sections 4.5, 4.6, 5, 6 and 12): selecting and parsing.

A record is parsed whole before it is evaluated, so a syntax error anywhere is a permerror
even when an earlier mechanism would have matched (4.6). Parsed records are cached by text.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.spf.macros import (
    DOMAIN_LETTERS,
    EXPLANATION_LETTERS,
    MacroString,
    SpfSyntaxError,
    parse_macro_string,
)

__all__ = [
    "Mechanism",
    "MechanismKind",
    "SpfRecord",
    "is_spf_record",
    "parse_domain_spec",
    "parse_record",
    "select_record",
]

_VERSION = b"v=spf1"
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.DOTALL)
_DIRECTIVE = re.compile(r"([-+?~]?)([A-Za-z0-9]*)(.*)", re.DOTALL)
_CIDRS = re.compile(r"(?:/(\d+))?(?://(\d+))?")
_DOMAIN_AND_CIDRS = re.compile(r"(.*?)((?:/\d+)?(?://\d+)?)", re.DOTALL)
_TOPLABEL = re.compile(
    r"[0-9A-Za-z]*[A-Za-z][0-9A-Za-z]*|[0-9A-Za-z]+-[0-9A-Za-z-]*[0-9A-Za-z]"
)


class MechanismKind(StrEnum):
    """The eight mechanisms of RFC 7208 section 5."""

    ALL = "all"
    INCLUDE = "include"
    A = "a"
    MX = "mx"
    PTR = "ptr"
    IP4 = "ip4"
    IP6 = "ip6"
    EXISTS = "exists"

    @property
    def queries_dns(self) -> bool:
        """Counts against the limit of 10 DNS-querying terms (4.6.4)."""
        return self not in (MechanismKind.ALL, MechanismKind.IP4, MechanismKind.IP6)


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A directive: qualifier and mechanism."""

    text: str
    """The term as written."""
    qualifier: str
    """``+``, ``-``, ``~`` or ``?`` (``+`` when none was written)."""
    kind: MechanismKind
    """Which mechanism."""
    domain_spec: MacroString | None = None
    """The target domain spec (None: the current domain; ip4/ip6/all never have one)."""
    cidr4: int = 32
    """IPv4 prefix length (a, mx, ip4)."""
    cidr6: int = 128
    """IPv6 prefix length (a, mx, ip6)."""
    network: int = 0
    """The ip4/ip6 network address as an integer."""


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed ``v=spf1`` record."""

    text: str
    """The record as published."""
    mechanisms: tuple[Mechanism, ...]
    """Directives, in order."""
    redirect: MacroString | None = None
    """The ``redirect=`` domain spec."""
    exp: MacroString | None = None
    """The ``exp=`` domain spec."""
    unknown_modifiers: tuple[tuple[str, MacroString], ...] = ()
    """Other modifiers: syntax-checked, then ignored (6)."""


def is_spf_record(data: bytes) -> bool:
    """True for TXT data that is an SPF record: ``v=spf1`` (any case), then a space or the end."""
    return data[:6].lower() == _VERSION and (len(data) == 6 or data[6:7] == b" ")


def select_record(texts: Iterable[bytes]) -> bytes | None:
    """The one SPF record among a name's TXT records (4.5); None when there is none.
    Raises :class:`SpfSyntaxError` for several."""
    found = [data for data in texts if is_spf_record(data)]
    if len(found) > 1:
        raise SpfSyntaxError(f"{len(found)} v=spf1 records; there must be exactly one")
    return found[0] if found else None


@functools.lru_cache(maxsize=4096)
def parse_record(text: str) -> SpfRecord:
    """Parse an SPF record (which :func:`is_spf_record`). Raises :class:`SpfSyntaxError`."""
    if not text.isascii():
        raise SpfSyntaxError("the record has non-ASCII characters")
    if not is_spf_record(text.encode()):
        raise SpfSyntaxError("the record does not start with 'v=spf1 '")
    mechanisms: list[Mechanism] = []
    modifiers: dict[str, MacroString] = {}
    unknown: list[tuple[str, MacroString]] = []
    for term in text[6:].split(" "):
        if not term:
            continue
        modifier = _MODIFIER.fullmatch(term)
        if modifier is None:
            mechanisms.append(_mechanism(term))
            continue
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            if name in modifiers:
                raise SpfSyntaxError(f"{name}= appears twice")
            modifiers[name] = parse_domain_spec(value, term)
        else:
            unknown.append((modifier.group(1), parse_macro_string(value, EXPLANATION_LETTERS)))
    return SpfRecord(
        text, tuple(mechanisms), modifiers.get("redirect"), modifiers.get("exp"), tuple(unknown)
    )


def parse_domain_spec(text: str, term: str = "") -> MacroString:
    """A domain spec: a macro string ending in a macro or in ``.toplabel`` (7.1)."""
    spec = parse_macro_string(text, DOMAIN_LETTERS)
    if not text:
        raise SpfSyntaxError(f"{term or 'term'}: empty domain")
    if not spec.ends_with_expand:
        body = text[:-1] if text.endswith(".") else text
        head, dot, toplabel = body.rpartition(".")
        if not dot or _TOPLABEL.fullmatch(toplabel) is None:
            raise SpfSyntaxError(f"{term or text}: {text!r} does not end in a valid top label")
    return spec


def _mechanism(term: str) -> Mechanism:
    match = _DIRECTIVE.fullmatch(term)
    assert match is not None  # every group is optional
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    try:
        kind = MechanismKind(name)
    except ValueError:
        raise SpfSyntaxError(f"unknown mechanism or bad term {term!r}") from None
    if kind is MechanismKind.ALL:
        if rest:
            raise SpfSyntaxError(f"{term!r}: 'all' takes no arguments")
        return Mechanism(term, qualifier, kind)
    if kind in (MechanismKind.INCLUDE, MechanismKind.EXISTS):
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{term!r}: {kind} needs ':domain'")
        return Mechanism(term, qualifier, kind, parse_domain_spec(rest[1:], term))
    if kind is MechanismKind.PTR:
        if not rest:
            return Mechanism(term, qualifier, kind)
        if not rest.startswith(":"):
            raise SpfSyntaxError(f"{term!r}: ptr takes only ':domain'")
        return Mechanism(term, qualifier, kind, parse_domain_spec(rest[1:], term))
    if kind in (MechanismKind.A, MechanismKind.MX):
        spec = None
        if rest.startswith(":"):
            split = _DOMAIN_AND_CIDRS.fullmatch(rest[1:])
            assert split is not None
            spec = parse_domain_spec(split.group(1), term)
            rest = split.group(2)
        cidrs = _CIDRS.fullmatch(rest)
        if cidrs is None:
            raise SpfSyntaxError(f"{term!r}: bad domain or prefix lengths")
        cidr4 = _prefix(cidrs.group(1), 32, term)
        cidr6 = _prefix(cidrs.group(2), 128, term)
        return Mechanism(term, qualifier, kind, spec, cidr4, cidr6)
    return _ip_mechanism(term, qualifier, kind, rest)


def _ip_mechanism(term: str, qualifier: str, kind: MechanismKind, rest: str) -> Mechanism:
    if not rest.startswith(":"):
        raise SpfSyntaxError(f"{term!r}: {kind} needs ':network'")
    address, slash, length = rest[1:].partition("/")
    try:
        if "%" in address:  # no IPv6 zone identifiers
            raise ValueError(address)
        network = (
            ipaddress.IPv4Address(address)
            if kind is MechanismKind.IP4
            else ipaddress.IPv6Address(address)
        )
    except ValueError:
        raise SpfSyntaxError(f"{term!r}: bad {kind} address {address!r}") from None
    if kind is MechanismKind.IP4:
        cidr = _prefix(length if slash else None, 32, term)
        return Mechanism(term, qualifier, kind, cidr4=cidr, network=int(network))
    cidr = _prefix(length if slash else None, 128, term)
    return Mechanism(term, qualifier, kind, cidr6=cidr, network=int(network))


def _prefix(digits: str | None, maximum: int, term: str) -> int:
    if digits is None:
        return maximum
    if not digits.isdigit() or (digits.startswith("0") and digits != "0") or int(digits) > maximum:
        raise SpfSyntaxError(f"{term!r}: bad prefix length /{digits}")
    return int(digits)
