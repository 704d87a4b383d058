"""SMTP command-line grammar: verbs, paths (RFC 5321 4.1.2, RFC 6531), ESMTP parameters, xtext.

Everything here is a pure function of one command line. Errors are raised as `GrammarError`
carrying the reply the server should give. The grammar always accepts UTF-8 in addresses and
reports it (`Path.utf8`); whether that is allowed (SMTPUTF8 given on MAIL) is the server's call.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from postoffice.proto.smtp.reply import Reply


class GrammarError(ValueError):
    """A command line that does not parse; `reply` is the answer to give."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


def _error(code: int, status: str, text: str) -> GrammarError:
    return GrammarError(Reply(code, status, text))


SYNTAX_ERROR = Reply(500, "5.5.2", "Syntax error, command unrecognized")
BAD_PARAM = (555, "5.5.4")

# -- command line ---------------------------------------------------------------------------

_VERB = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Command:
    """One command line split into its verb and argument."""

    verb: str
    """Upper-cased verb, e.g. "MAIL"."""
    argument: str
    """Everything after the verb and its separating space(s), trailing blanks removed."""


def parse_command(line: bytes) -> Command:
    """Split a command line (without its line end) into verb and argument.

    Invalid UTF-8, control characters (NUL, stray CR ...) or a verb that is not a keyword
    give `500 5.5.2`."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise GrammarError(SYNTAX_ERROR) from None
    if _CONTROL.search(text):
        raise GrammarError(SYNTAX_ERROR)
    verb, _, argument = text.partition(" ")
    if not _VERB.match(verb):
        raise GrammarError(SYNTAX_ERROR)
    return Command(verb.upper(), argument.strip(" \t"))


# -- paths ----------------------------------------------------------------------------------

_U = "\u0080-\U0010ffff"  # UTF8-non-ascii (RFC 6531), as decoded text
_ATEXT = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_U}]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_U}]|\\[\x20-\x7e])*"'
_LABEL = rf"[A-Za-z0-9\-{_U}]+"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_LITERAL = r"\[[^\[\]\\\s]*\]"
_PATH = re.compile(
    rf"<(?:(?P<adl>@{_DOMAIN}(?:,@{_DOMAIN})*):)?"
    rf"(?P<local>{_DOT_STRING}|{_QUOTED})@(?P<domain>{_DOMAIN}|{_LITERAL})>"
)
_POSTMASTER = re.compile(r"<(?P<local>[Pp][Oo][Ss][Tt][Mm][Aa][Ss][Tt][Ee][Rr])>")
_IPV4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\Z")
_GENERAL_TAG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?:[\x21-\x5a\x5e-\x7e]+\Z")


@dataclass(frozen=True)
class Mailbox:
    """local-part@domain as sent (a quoted local part keeps its quotes)."""

    local_part: str
    domain: str
    """A domain, or an address literal with its brackets; "" only for <Postmaster>."""

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}" if self.domain else self.local_part


@dataclass(frozen=True)
class Path:
    """A reverse or forward path."""

    mailbox: Mailbox | None
    """None for the null reverse path <>."""
    source_route: tuple[str, ...] = ()
    """The domains of an RFC 5321 source route (@a,@b:), which the address no longer carries."""

    @property
    def address(self) -> str:
        return "" if self.mailbox is None else str(self.mailbox)

    @property
    def utf8(self) -> bool:
        """True when the address needs SMTPUTF8."""
        return not self.address.isascii()


def _valid_domain(domain: str) -> bool:
    if len(domain.encode("utf-8")) > 255:
        return False
    return all(not (label.startswith("-") or label.endswith("-")) for label in domain.split("."))


def valid_address_literal(literal: str) -> bool:
    """[1.2.3.4], [IPv6:...] or a general literal [tag:content] (RFC 5321 4.1.3)."""
    inner = literal[1:-1]
    m = _IPV4.match(inner)
    if m:
        return all(int(part) <= 255 for part in m.groups())
    if inner[:5].upper() == "IPV6:":
        text = inner[5:]
        if "%" in text:
            return False
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    return bool(_GENERAL_TAG.match(inner)) and inner[:5].upper() != "IPV6:"


def parse_path(
    text: str, *, null_ok: bool = False, postmaster_ok: bool = False
) -> tuple[Path, str]:
    """Parse the path at the start of `text`; return it and the text that follows.

    Raises ValueError when there is no valid path there."""
    if null_ok and text.startswith("<>"):
        return Path(None), text[2:]
    m = _PATH.match(text)
    if m is None:
        pm = _POSTMASTER.match(text) if postmaster_ok else None
        if pm is None:
            raise ValueError("bad path")
        return Path(Mailbox(pm["local"], "")), text[pm.end() :]
    domain = m["domain"]
    if domain.startswith("["):
        if not valid_address_literal(domain):
            raise ValueError("bad address literal")
    elif not _valid_domain(domain):
        raise ValueError("bad domain")
    route: tuple[str, ...] = ()
    if m["adl"]:
        route = tuple(part[1:] for part in m["adl"].split(","))
        if not all(_valid_domain(d) for d in route):
            raise ValueError("bad source route")
    return Path(Mailbox(m["local"], domain), route), text[m.end() :]


# -- ESMTP parameters ------------------------------------------------------------------------

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
_VALUE = re.compile(rf"[\x21-\x3c\x3e-\x7e{_U}]+\Z")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-Fa-f]{2})*\Z")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\Z")


def parse_params(text: str) -> dict[str, str | None]:
    """`KEY[=VALUE]` words separated by spaces; keys upper-cased; 555 5.5.4 when malformed
    or repeated."""
    params: dict[str, str | None] = {}
    for word in text.split(" "):
        if not word:
            continue
        key, eq, value = word.partition("=")
        if not _KEYWORD.match(key) or (eq and not _VALUE.match(value)):
            raise _error(*BAD_PARAM, f"Malformed parameter {word!r}")
        key = key.upper()
        if key in params:
            raise _error(*BAD_PARAM, f"Duplicate parameter {key}")
        params[key] = value if eq else None
    return params


def xtext_decode(text: str) -> str:
    """RFC 3461 xtext to text ("+2B" -> "+"); ValueError when malformed or not UTF-8."""
    if not _XTEXT.match(text):
        raise ValueError("malformed xtext")
    if "+" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "+":
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += c.encode("ascii")
            i += 1
    return out.decode("utf-8")


def xtext_encode(text: str) -> str:
    """Text to RFC 3461 xtext: "+", "=" and every octet outside "!".."~" become +XX."""
    out = []
    for byte in text.encode("utf-8"):
        if 0x21 <= byte <= 0x7E and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


def _is_xtext(value: str | None) -> bool:
    return value is not None and bool(_XTEXT.match(value))


def _need(key: str, value: str | None, ok: bool) -> None:
    if not ok:
        shown = key if value is None else f"{key}={value}"
        raise _error(*BAD_PARAM, f"Invalid parameter {shown}")


def _check_mail_param(key: str, value: str | None, *, smtputf8: bool, dsn: bool) -> str | None:
    if key == "SIZE":
        _need(
            key,
            value,
            value is not None and value.isascii() and value.isdigit() and len(value) <= 20,
        )
        return value
    if key == "BODY":
        body = (value or "").upper()
        _need(key, value, body in ("7BIT", "8BITMIME"))
        return body
    if key == "SMTPUTF8" and smtputf8:
        _need(key, value, value is None)
        return None
    if key == "RET" and dsn:
        ret = (value or "").upper()
        _need(key, value, ret in ("FULL", "HDRS"))
        return ret
    if key == "ENVID" and dsn:
        _need(key, value, _is_xtext(value) and bool(value))
        return value
    if key == "AUTH":
        _need(key, value, value == "<>" or (_is_xtext(value) and bool(value)))
        return value
    raise _error(*BAD_PARAM, f"Unsupported parameter {key}")


_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def _check_rcpt_param(key: str, value: str | None, *, dsn: bool) -> str | None:
    if key == "NOTIFY" and dsn:
        _need(key, value, value is not None)
        assert value is not None
        items = value.upper().split(",")
        if "NEVER" in items:
            if len(items) > 1:
                raise _error(501, "5.5.4", "NOTIFY=NEVER cannot be combined with other values")
            return "NEVER"
        _need(key, value, all(i in _NOTIFY for i in items) and len(set(items)) == len(items))
        return ",".join(items)
    if key == "ORCPT" and dsn:
        addr_type, semi, addr = (value or "").partition(";")
        utf8_addr = addr_type.lower() == "utf-8" and bool(_VALUE.match(addr))  # RFC 6533
        _need(
            key,
            value,
            bool(semi and addr and _ATOM.match(addr_type)) and (_is_xtext(addr) or utf8_addr),
        )
        return value
    raise _error(*BAD_PARAM, f"Unsupported parameter {key}")


@dataclass(frozen=True)
class PathArgument:
    """The argument of MAIL or RCPT: a path and its validated parameters."""

    path: Path
    params: dict[str, str | None] = field(default_factory=dict, hash=False)


def _split_path(argument: str, prefix: str, status: str, **kw: bool) -> tuple[Path, str]:
    if argument[: len(prefix)].upper() != prefix:
        usage = "MAIL FROM:<address>" if prefix == "FROM:" else "RCPT TO:<address>"
        raise _error(501, "5.5.4", f"Syntax: {usage}")
    rest = argument[len(prefix) :].lstrip(" ")  # liberal: "MAIL FROM: <a@b>"
    try:
        path, after = parse_path(rest, **kw)
    except ValueError:
        raise _error(501, status, "Bad address syntax") from None
    if after and not after.startswith(" "):
        raise _error(501, status, "Bad address syntax")
    return path, after


def parse_mail(
    argument: str, *, esmtp: bool = True, smtputf8: bool = True, dsn: bool = True
) -> PathArgument:
    """The argument of MAIL: `FROM:<reverse-path> [params]`.

    `esmtp` is False after HELO (no parameters at all); `smtputf8`/`dsn` say whether those
    extensions are offered."""
    path, after = _split_path(argument, "FROM:", "5.1.7", null_ok=True)
    raw = parse_params(after)
    if raw and not esmtp:
        raise _error(*BAD_PARAM, "Parameters not allowed after HELO")
    params = {k: _check_mail_param(k, v, smtputf8=smtputf8, dsn=dsn) for k, v in raw.items()}
    return PathArgument(Path(path.mailbox), params)  # a source route on MAIL is ignored


def parse_rcpt(argument: str, *, esmtp: bool = True, dsn: bool = True) -> PathArgument:
    """The argument of RCPT: `TO:<forward-path> [params]` (also `<Postmaster>`)."""
    path, after = _split_path(argument, "TO:", "5.1.3", postmaster_ok=True)
    raw = parse_params(after)
    if raw and not esmtp:
        raise _error(*BAD_PARAM, "Parameters not allowed after HELO")
    params = {k: _check_rcpt_param(k, v, dsn=dsn) for k, v in raw.items()}
    return PathArgument(path, params)


_BDAT = re.compile(r"([0-9]{1,18})(?: +([Ll][Aa][Ss][Tt]))?\Z")


def parse_bdat(argument: str) -> tuple[int, bool]:
    """`<size> [LAST]` -> (size, last); 501 5.5.4 when malformed."""
    m = _BDAT.match(argument)
    if m is None:
        raise _error(501, "5.5.4", "Syntax: BDAT <size> [LAST]")
    return int(m[1]), m[2] is not None
