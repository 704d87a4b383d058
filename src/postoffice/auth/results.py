"""Authentication-Results header fields (RFC 8601): the model, rendering, parsing, and removing
fields that claim to be ours.

::

    Authentication-Results: mx.example.org;
        spf=pass smtp.mailfrom=example.com;
        dkim=pass header.d=example.com header.s=sel header.b="abc/def";
        dmarc=pass (p=reject dis=none) header.from=example.com

*Model.* :class:`AuthenticationResults` holds the authserv-id, an optional version and the
:class:`MethodResult` entries; each has a method (any keyword: unknown methods are kept), a
result word, an optional ``reason=``, an optional comment and ``ptype.property=value``
:class:`Property` items. Keywords are compared and stored in lower case.

*Rendering* (:meth:`AuthenticationResults.render`) writes the whole field: one method per line,
folded further between items when a line would pass 78 characters, ending in CRLF. Values are
written bare when they are MIME tokens or ``local-part@domain`` forms, else as quoted strings.
Text that could break the header (CR, LF, NUL) is refused when a model object is built.

*Parsing* (:func:`parse`) reads a field value: comments (nested) and folding wherever CFWS may
stand, quoted strings with quoted-pairs, ``none``, versions (``dkim/1``). Property values are
read leniently (up to whitespace, ``;`` or a comment), since real fields carry unquoted
``header.b=ab/c+d`` and IPv6 addresses. A comment right after a result is kept in
:attr:`MethodResult.comment`; other comments are dropped.

*Removal* (:func:`remove_own_results`): an MTA must delete incoming fields that claim its own
authserv-id before adding its own (RFC 8601 5), or forged results would be trusted downstream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postoffice.message.fields import RawField, drop_fields

__all__ = [
    "AuthResultsSyntaxError",
    "AuthenticationResults",
    "FIELD_NAME",
    "MethodResult",
    "Property",
    "authserv_id_of",
    "parse",
    "remove_own_results",
]

FIELD_NAME = "Authentication-Results"

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"(?:{_ATEXT}(?:\.{_ATEXT})*)?@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?")
_LOOSE_VALUE = re.compile(r"[^\s;()\"]+")
_DIGITS = re.compile(r"[0-9]+")
_UNSAFE = re.compile(r"[\r\n\x00]")
_WIDTH = 78


class AuthResultsSyntaxError(ValueError):
    """A field value that is not RFC 8601 syntax; the message says where."""


def _keyword(value: str, what: str) -> str:
    if not _KEYWORD.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a keyword")
    return value.lower()


def _text(value: str, what: str) -> str:
    if _UNSAFE.search(value):
        raise ValueError(f"{what} contains CR, LF or NUL")
    return value


@dataclass(frozen=True, slots=True)
class Property:
    """One ``ptype.property=value`` item (``smtp.mailfrom=example.com``)."""

    ptype: str
    """``smtp``, ``header``, ``body``, ``policy`` (or any other keyword)."""
    name: str
    """The property (``mailfrom``, ``d``, ``from``)."""
    value: str
    """The value, unquoted."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ptype", _keyword(self.ptype, "ptype"))
        object.__setattr__(self, "name", _keyword(self.name, "property"))
        _text(self.value, "property value")


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One method's result (a ``resinfo``)."""

    method: str
    """``spf``, ``dkim``, ``dmarc``, ``arc``, ``bimi``, ``iprev``, ``auth``, ... (any keyword)."""
    result: str
    """The result word (``pass``, ``fail``, ...)."""
    reason: str | None = None
    """``reason=``: a human-readable explanation."""
    properties: tuple[Property, ...] = ()
    """The ``ptype.property=value`` items, in order."""
    comment: str | None = None
    """A comment written right after the result (``dmarc=fail (p=reject dis=quarantine)``)."""
    version: int | None = None
    """The method's version (``dkim/1``); None when not written."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", _keyword(self.method, "method"))
        object.__setattr__(self, "result", _keyword(self.result, "result"))
        object.__setattr__(self, "properties", tuple(self.properties))
        for text, what in ((self.reason, "reason"), (self.comment, "comment")):
            if text is not None:
                _text(text, what)

    def get(self, ptype: str, name: str) -> str | None:
        """The value of the first ``ptype.name`` property, or None."""
        ptype, name = ptype.lower(), name.lower()
        return next((p.value for p in self.properties if (p.ptype, p.name) == (ptype, name)), None)

    def items(self) -> list[str]:
        """The rendered pieces: ``method=result``, the comment, the reason, each property."""
        head = self.method + ("" if self.version is None else f"/{self.version}")
        items = [f"{head}={self.result}"]
        if self.comment is not None:
            items.append(_comment(self.comment))
        if self.reason is not None:
            items.append(f"reason={_value(self.reason)}")
        items.extend(f"{p.ptype}.{p.name}={_pvalue(p.value)}" for p in self.properties)
        return items


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    """One Authentication-Results field."""

    authserv_id: str
    """Who did the checks (normally the receiving host's name)."""
    results: tuple[MethodResult, ...] = ()
    """The results; empty renders as ``none``."""
    version: int | None = None
    """The field's version (``1``); None when not written."""

    def __post_init__(self) -> None:
        if not self.authserv_id:
            raise ValueError("empty authserv-id")
        _text(self.authserv_id, "authserv-id")
        object.__setattr__(self, "results", tuple(self.results))

    @property
    def value(self) -> str:
        """The field value on one line (``mx.example.org; spf=pass smtp.mailfrom=a.example``)."""
        head = self._head()
        if not self.results:
            return f"{head}; none"
        return "; ".join([head] + [" ".join(r.items()) for r in self.results])

    def render(self) -> bytes:
        """The whole field, folded, ending in CRLF (UTF-8 where a value needs it)."""
        head = f"{FIELD_NAME}: {self._head()};"
        if not self.results:
            return f"{head} none\r\n".encode()
        lines = [head]
        for index, result in enumerate(self.results):
            line = "\t"
            for item in result.items():
                if line.strip() and len(line.expandtabs(8)) + 1 + len(item) > _WIDTH:
                    lines.append(line)
                    line = "\t\t"
                line += item if not line.strip() else " " + item
            lines.append(line + (";" if index < len(self.results) - 1 else ""))
        return ("\r\n".join(lines) + "\r\n").encode()

    def _head(self) -> str:
        head = _value(self.authserv_id)
        return head if self.version is None else f"{head} {self.version}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(value: str) -> str:
    return value if _TOKEN.fullmatch(value) else _quoted(value)


def _pvalue(value: str) -> str:
    return value if _TOKEN.fullmatch(value) or _ADDRESS.fullmatch(value) else _quoted(value)


def _comment(text: str) -> str:
    return "(" + re.sub(r"([()\\])", r"\\\1", text) + ")"


# --------------------------------------------------------------------------- parsing


class _Scanner:
    """A cursor over a field value that knows RFC 5322's CFWS, quoted strings and comments."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> AuthResultsSyntaxError:
        return AuthResultsSyntaxError(f"{what} at offset {self.pos} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def cfws(self) -> list[str]:
        """Skip whitespace, folding and comments; return the comments' text."""
        comments: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r\n":
                self.pos += 1
            elif char == "(":
                comments.append(self._comment())
            else:
                break
        return comments

    def _comment(self) -> str:
        depth, start, out = 0, self.pos, []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
                continue
            if char == "(":
                depth += 1
                if depth == 1:
                    continue
            elif char == ")":
                depth -= 1
                if depth == 0:
                    return re.sub(r"\s+", " ", "".join(out)).strip()
            out.append(char)
        self.pos = start
        raise self.fail("unclosed comment")

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def match(self, pattern: re.Pattern[str], what: str) -> str:
        found = pattern.match(self.text, self.pos)
        if not found:
            raise self.fail(f"expected {what}")
        self.pos = found.end()
        return found.group()

    def quoted(self) -> str:
        self.expect('"')
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\" and self.pos < len(self.text):
                char = self.text[self.pos]
                self.pos += 1
            elif char in "\r\n":
                continue  # folding inside a quoted string
            out.append(char)
        raise self.fail("unclosed quoted string")

    def value(self, loose: bool = False) -> str:
        if self.peek() == '"':
            return self.quoted()
        return self.match(_LOOSE_VALUE if loose else _TOKEN, "a value")


def parse(value: str | bytes) -> AuthenticationResults:
    """The field value (after ``Authentication-Results:``) as a model; raises
    :class:`AuthResultsSyntaxError`."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    scan = _Scanner(value)
    scan.cfws()
    authserv_id = scan.value()
    scan.cfws()
    version = int(scan.match(_DIGITS, "")) if scan.peek().isdigit() else None
    scan.cfws()
    if scan.peek() != ";":
        raise scan.fail("expected ';' after the authserv-id")
    results: list[MethodResult] = []
    while scan.peek() == ";":
        scan.pos += 1
        scan.cfws()
        if not scan.peek():
            break  # a trailing ';' is tolerated
        method = scan.match(_KEYWORD, "a method")
        scan.cfws()
        if method.lower() == "none" and not results and scan.peek() != "=":
            if scan.peek():
                raise scan.fail("text after 'none'")
            break
        results.append(_resinfo(scan, method))
    if scan.peek():
        raise scan.fail("unexpected text")
    try:
        return AuthenticationResults(authserv_id, tuple(results), version)
    except ValueError as exc:
        raise AuthResultsSyntaxError(str(exc)) from None


def _resinfo(scan: _Scanner, method: str) -> MethodResult:
    """The rest of one resinfo, after its method keyword and CFWS."""
    version = None
    if scan.peek() == "/":
        scan.pos += 1
        scan.cfws()
        version = int(scan.match(_DIGITS, "a method version"))
        scan.cfws()
    scan.expect("=")
    scan.cfws()
    result = scan.match(_KEYWORD, "a result")
    comments = scan.cfws()
    reason: str | None = None
    properties: list[Property] = []
    while scan.peek() not in ("", ";"):
        name = scan.match(_KEYWORD, "a property type")
        scan.cfws()
        if name.lower() == "reason" and scan.peek() == "=" and reason is None and not properties:
            scan.pos += 1
            scan.cfws()
            reason = scan.value()
            scan.cfws()
            continue
        scan.expect(".")
        scan.cfws()
        prop = scan.match(_KEYWORD, "a property")
        scan.cfws()
        scan.expect("=")
        scan.cfws()
        properties.append(Property(name, prop, scan.value(loose=True)))
        scan.cfws()
    return MethodResult(method, result, reason, tuple(properties),
                        " ".join(comments) if comments else None, version)


# --------------------------------------------------------------------------- removal


def authserv_id_of(field_value: str) -> str | None:
    """The authserv-id a field value claims (without parsing the rest), or None."""
    scan = _Scanner(field_value)
    try:
        scan.cfws()
        return scan.value()
    except AuthResultsSyntaxError:
        return None


def remove_own_results(message: bytes, authserv_id: str) -> bytes:
    """The message without the Authentication-Results fields whose authserv-id is
    ``authserv_id`` (compared case-insensitively, final dot ignored); every other byte stays."""
    ours = authserv_id.lower().rstrip(".")

    def claims_ours(field: RawField) -> bool:
        if not field.is_named(FIELD_NAME):
            return False
        claimed = authserv_id_of(field.value)
        return claimed is not None and claimed.lower().rstrip(".") == ours

    return drop_fields(message, claims_ours)
