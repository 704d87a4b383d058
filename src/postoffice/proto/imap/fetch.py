"""FETCH attributes (RFC 9051 6.4.5, fetch-att) with sections, partials and macros."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.scanner import Scanner


@dataclass(frozen=True)
class Section:
    """section-spec: a part path and/or a text specifier.

    `part` is () for the whole message; `text` is None, HEADER, HEADER.FIELDS,
    HEADER.FIELDS.NOT, TEXT or MIME; `fields` the header names for HEADER.FIELDS[.NOT]."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchAttribute:
    """One attribute: `name` is ENVELOPE, FLAGS, INTERNALDATE, RFC822.SIZE, BODY,
    BODYSTRUCTURE, UID, BODY[] (section given), BINARY, BINARY.SIZE, RFC822, RFC822.HEADER,
    RFC822.TEXT, MODSEQ or another atom for an extension."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    """<origin.length> of a BODY[] or BINARY[] fetch."""
    peek: bool = False


_SIMPLE = {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "RFC822", "RFC822.HEADER",
           "RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ", "EMAILID", "THREADID", "SAVEDATE",
           "PREVIEW"}
_FAST = ("FLAGS", "INTERNALDATE", "RFC822.SIZE")
MACROS = {"FAST": _FAST, "ALL": _FAST + ("ENVELOPE",), "FULL": _FAST + ("ENVELOPE", "BODY")}
_SECTION_TEXT = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


def fetch_attributes(scanner: Scanner) -> tuple[FetchAttribute, ...]:
    """"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"."""
    if scanner.peek() == ord("("):
        return tuple(scanner.paren_list(lambda: _attribute(scanner), allow_empty=False))
    for macro, names in MACROS.items():
        if scanner.try_keyword(macro):
            return tuple(FetchAttribute(n) for n in names)
    return (_attribute(scanner),)


def _attribute(s: Scanner) -> FetchAttribute:
    for name, peek in (("BODY.PEEK[", True), ("BINARY.PEEK[", True), ("BINARY.SIZE[", False),
                       ("BINARY[", False), ("BODY[", False)):
        if s.try_keyword(name):
            base = name.split("[")[0].removesuffix(".PEEK")
            binary = base.startswith("BINARY")
            section = _binary_section(s) if binary else _section(s)
            partial = _partial(s) if base != "BINARY.SIZE" else None
            return FetchAttribute(base, section, partial, peek)
    name = s.atom().upper()
    if name in _SIMPLE or name == "BODY":
        return FetchAttribute(name)
    raise GrammarError(f"unknown fetch attribute {name}")


def _part(s: Scanner) -> tuple[int, ...]:
    parts = [s.nz_number()]
    while s.peek() == ord(".") and s.data[s.pos + 1:s.pos + 2].isdigit():
        s.pos += 1
        parts.append(s.nz_number())
    return tuple(parts)


def _section(s: Scanner) -> Section:
    """The inside of [...] up to and including "]"."""
    part: tuple[int, ...] = ()
    if s.peek() is not None and chr(s.peek() or 0).isdigit():
        part = _part(s)
        if s.try_char("]"):
            return Section(part)
        s.char(".")
    if s.try_char("]"):
        return Section()
    for text in _SECTION_TEXT:
        if s.try_keyword(text):
            break
    else:
        raise GrammarError("bad section")
    if text == "MIME" and not part:
        raise GrammarError("MIME needs a part number")
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        s.sp()
        fields = tuple(f.decode("ascii", "replace")
                       for f in s.paren_list(s.astring, allow_empty=False))
    s.char("]")
    return Section(part, text, fields)


def _binary_section(s: Scanner) -> Section:
    part: tuple[int, ...] = () if s.peek() == ord("]") else _part(s)
    s.char("]")
    return Section(part)


def _partial(s: Scanner) -> tuple[int, int] | None:
    if not s.try_char("<"):
        return None
    origin = s.number()
    s.char(".")
    length = s.nz_number()
    s.char(">")
    return origin, length
