"""The MIME structure of a raw message (RFC 5322, 2045, 2046, 2047, 2231) as byte offsets.

`parse` walks the message once and records where each part's header and body lie, so a
section is a slice of the raw bytes. Boundaries are searched as RFC 2046 says: a line that
starts with "--" and the boundary of any enclosing multipart (the longest one that matches);
the line break before it belongs to the boundary; CRLF and bare LF both end lines. Broken input
never raises: a multipart without a boundary is text/plain, a missing close delimiter ends the
part at the end of its parent, parts past the nesting or count limits are opaque
application/octet-stream leaves.
"""

from __future__ import annotations

import binascii
import functools
import re
from dataclasses import dataclass, field

MAX_DEPTH = 100
"""Parts nested deeper than this are not opened (multiparts and message/rfc822 alike)."""
MAX_PARTS = 10_000
"""Parts beyond this count in one message are not represented."""

KNOWN_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})

_WSP = b" \t"
_CFWS_SPACE = frozenset(b" \t\r\n")
# RFC 2045 tspecials, space and controls end a token.
_TOKEN_STOP = frozenset(b'()<>@,;:\\"/[]?= \t\r\n') | frozenset(range(0x20)) | {0x7F}
_VALUE_STOP = frozenset(b'; \t\r\n("')
_NAME_STOP = frozenset(b'=; \t\r\n("')
_BASE64_DROP = bytes(c for c in range(256)
                     if c not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 b"0123456789+/=")
_PADDING = re.compile(rb"=+")
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_ATTR_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        b"!#$&+-.^_`|~")

Params = tuple[tuple[bytes, bytes], ...]
"""Parameters as sent in BODYSTRUCTURE: continuations joined, RFC 2231 values still encoded
(under the name with its trailing "*"), in header order."""


@dataclass(slots=True, eq=False)
class Part:
    """One MIME entity: offsets into the raw message and its parsed Content-* fields.

    The header runs from `header_start` to `header_end` (its empty line included) and the
    body from `body_start` (= `header_end`) to `body_end` (the line break before the next
    boundary excluded). A multipart has `children`; message/rfc822 and message/global have
    the encapsulated message as `message`."""

    header_start: int
    header_end: int
    body_start: int
    body_end: int
    type: str = "text"
    subtype: str = "plain"
    params: dict[str, str] = field(default_factory=dict)
    """Content-Type parameters decoded (RFC 2231 and 2047), names lower-cased."""
    type_params: Params = ()
    transfer_encoding: str = "7bit"
    content_id: bytes | None = None
    description: bytes | None = None
    disposition: str | None = None
    disposition_params: dict[str, str] = field(default_factory=dict)
    disposition_wire: Params = ()
    language: tuple[str, ...] = ()
    location: bytes | None = None
    md5: bytes | None = None
    multipart: bool = False
    children: list[Part] = field(default_factory=list)
    message: Part | None = None

    @property
    def content_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def size(self) -> int:
        return self.body_end - self.body_start

    def walk(self) -> list[Part]:
        """This part and every part below it, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        if self.message is not None:
            found.extend(self.message.walk())
        return found


# -- header fields ----------------------------------------------------------------------------

def unfold(value: bytes) -> bytes:
    """The value without the line breaks of its folding (the white space stays)."""
    return _FOLD.sub(b"", value).rstrip(b"\r\n")


def raw_fields(raw_header: bytes) -> list[tuple[str, bytes]]:
    """(lower-cased name, the field as written: folding and line break included), in order,
    up to the empty line. A line without a colon is a field named ""."""
    fields: list[tuple[str, bytes]] = []
    pos, end = 0, len(raw_header)
    start = -1
    name = ""
    while pos < end:
        eol = raw_header.find(b"\n", pos)
        line_end = end if eol < 0 else eol + 1
        first = raw_header[pos]
        if first in _WSP and start >= 0:
            pos = line_end
            continue
        if start >= 0:
            fields.append((name, raw_header[start:pos]))
        if first == 0x0A or raw_header.startswith(b"\r\n", pos):
            return fields
        colon = raw_header.find(b":", pos, line_end)
        name = raw_header[pos:colon].rstrip(_WSP).decode("latin-1").lower() if colon >= 0 else ""
        start, pos = pos, line_end
    if start >= 0:
        fields.append((name, raw_header[start:end]))
    return fields


def header_fields(raw_header: bytes) -> list[tuple[str, bytes]]:
    """(lower-cased name, unfolded value without leading white space), in order."""
    out = []
    for name, raw in raw_fields(raw_header):
        if name:
            out.append((name, unfold(raw[raw.index(b":") + 1:]).lstrip(_WSP)))
    return out


# -- RFC 2047 encoded words -------------------------------------------------------------------

def decode_words(value: bytes | str) -> str:
    """Decode RFC 2047 encoded words; white space between two of them goes, words in unknown
    charsets are left as written, other bytes are read as UTF-8."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if b"=?" not in data:
        return data.decode("utf-8", "replace")
    out: list[str] = []
    pending, pending_charset = b"", ""
    pos, after_word = 0, False
    for match in _ENCODED_WORD.finditer(data):
        gap = data[pos:match.start()]
        charset = match[1].split(b"*")[0].decode("latin-1").lower()
        known = _known_charset(charset)
        if not after_word or gap.strip(b" \t\r\n") or not known or charset != pending_charset:
            out.append(_charset_text(pending, pending_charset))
            pending = b""
        if not after_word or gap.strip(b" \t\r\n"):
            out.append(gap.decode("utf-8", "replace"))
        if known:
            text = match[3]
            pending += (_lenient_base64(text) if match[2] in b"Bb"
                        else binascii.a2b_qp(text, header=True))
            pending_charset = charset
        else:
            out.append(match[0].decode("utf-8", "replace"))
        after_word = known
        pos = match.end()
    out.append(_charset_text(pending, pending_charset))
    out.append(data[pos:].decode("utf-8", "replace"))
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _known_charset(charset: str) -> bool:
    try:
        b"a".decode(charset, "replace")  # (empty input would not look the codec up)
    except (LookupError, ValueError):
        return False
    return True


def _charset_text(data: bytes, charset: str | None) -> str:
    """Text in `charset`, bad bytes replaced; an unknown or missing charset reads as UTF-8."""
    if not data:
        return ""
    name = (charset or "utf-8").lower()
    if name in ("us-ascii", "ascii", "ansi_x3.4-1968"):
        name = "utf-8"
    try:
        return data.decode(name, "replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", "replace")


# -- transfer encodings -----------------------------------------------------------------------

def _lenient_base64(data: bytes) -> bytes:
    """Base64 ignoring what is not in the alphabet; padding may end several runs."""
    data = data.translate(None, _BASE64_DROP)
    out = []
    for run in _PADDING.split(data):
        if len(run) % 4 == 1:
            run = run[:-1]
        if run:
            out.append(binascii.a2b_base64(run + b"=" * (-len(run) % 4)))
    return b"".join(out)


def _quoted_printable(data: bytes) -> bytes:
    """RFC 2045 6.7: trailing white space goes, a final "=" is a soft line break, =XX an
    octet; anything else stays as written. Hard line breaks keep their form."""
    out = []
    lines = data.split(b"\n")
    last = len(lines) - 1
    for i, line in enumerate(lines):
        text = line.rstrip(b" \t\r")
        soft = text.endswith(b"=")
        if soft:
            text = text[:-1]
        out.append(binascii.a2b_qp(text) if b"=" in text else text)
        if i < last and not soft:
            out.append(b"\r\n" if line.endswith(b"\r") else b"\n")
    return b"".join(out)


def decoded_body(raw: bytes, part: Part) -> bytes:
    """The body without its Content-Transfer-Encoding (an unknown one is left as is)."""
    body = raw[part.body_start:part.body_end]
    if part.transfer_encoding == "base64":
        return _lenient_base64(body)
    if part.transfer_encoding == "quoted-printable":
        return _quoted_printable(body)
    return body


def text_of(raw: bytes, part: Part) -> str:
    """The decoded body as text in its charset (bad bytes replaced)."""
    return _charset_text(decoded_body(raw, part), part.params.get("charset"))


def preamble_epilogue(raw: bytes, part: Part) -> bytes:
    """A multipart's text outside its parts: before the first boundary and after the close
    delimiter (RFC 2046 5.1.1); b"" for other parts."""
    boundary = part.params.get("boundary")
    if not part.multipart or not boundary:
        return b""
    body = raw[part.body_start:part.body_end]
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    # the line break before a delimiter belongs to the delimiter
    first = 0 if body.startswith(delimiter) else body.find(b"\n" + delimiter)
    preamble = body if first < 0 else body[:first].removesuffix(b"\r")
    close = body.rfind(delimiter + b"--")
    epilogue = b""
    if close >= 0:
        end = body.find(b"\n", close)
        epilogue = b"" if end < 0 else body[end + 1:]
    return preamble + epilogue


def searchable_text(raw: bytes, part: Part) -> str:
    """The text of every text/* part, message/rfc822 parts included (for SEARCH BODY)."""
    texts = [text_of(raw, p) for p in part.walk()
             if p.type == "text" and not p.multipart and p.message is None]
    return "\n".join(texts)


# -- Content-* fields (RFC 2045, 2183, 2231, 3066) ----------------------------------------------

def _skip_cfws(s: bytes, i: int) -> int:
    """Past white space and (nested) comments."""
    n = len(s)
    while i < n:
        c = s[i]
        if c in _CFWS_SPACE:
            i += 1
        elif c == 0x28:  # "("
            depth = 0
            while i < n:
                c = s[i]
                if c == 0x5C:  # backslash quotes the next octet
                    i += 1
                elif c == 0x28:
                    depth += 1
                elif c == 0x29:
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
        else:
            break
    return i


def _run(s: bytes, i: int, stop: frozenset[int]) -> int:
    n = len(s)
    while i < n and s[i] not in stop:
        i += 1
    return i


def _quoted(s: bytes, i: int) -> tuple[bytes, int]:
    """The content of the quoted string at s[i] ('"'), unescaped, and the offset past it."""
    out = bytearray()
    i += 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == 0x22:
            return bytes(out), i + 1
        if c == 0x5C and i + 1 < n:
            i += 1
            c = s[i]
        if c not in (0x0D, 0x0A):
            out.append(c)
        i += 1
    return bytes(out), n


def _token(s: bytes, i: int) -> tuple[bytes, int]:
    i = _skip_cfws(s, i)
    end = _run(s, i, _TOKEN_STOP)
    return s[i:end], end


def _raw_params(s: bytes, i: int) -> list[tuple[bytes, bytes]]:
    """`*(";" name "=" value)` leniently: unquoted values run to white space or ";", a broken
    parameter is skipped up to the next ";"."""
    params: list[tuple[bytes, bytes]] = []
    n = len(s)
    while True:
        i = _skip_cfws(s, i)
        if i >= n:
            return params
        if s[i] != 0x3B:  # junk: on to the next ";" outside quotes
            i = _quoted(s, i)[1] if s[i] == 0x22 else i + 1
            continue
        i = _skip_cfws(s, i + 1)
        end = _run(s, i, _NAME_STOP)
        name = s[i:end].lower()
        i = _skip_cfws(s, end)
        if not name or i >= n or s[i] != 0x3D:  # "="
            continue
        i = _skip_cfws(s, i + 1)
        if i < n and s[i] == 0x22:
            value, i = _quoted(s, i)
        else:
            end = _run(s, i, _VALUE_STOP)
            value, i = s[i:end], end
        params.append((name, value))


def _percent_decode(value: bytes) -> bytes:
    parts = value.split(b"%")
    out = [parts[0]]
    for piece in parts[1:]:
        try:
            out.append(bytes([int(piece[:2], 16)]) + piece[2:])
        except ValueError:
            out.append(b"%" + piece)
    return b"".join(out)


def _percent_encode(value: bytes) -> bytes:
    return b"".join(bytes([c]) if c in _ATTR_CHARS else b"%%%02X" % c for c in value)


def _params(raw: list[tuple[bytes, bytes]]) -> tuple[Params, dict[str, str]]:
    """Join RFC 2231 continuations: the wire form (extended values still encoded) and the
    decoded values (an extended value wins over a plain one of the same name)."""
    order: list[bytes] = []
    sections: dict[bytes, dict[int, tuple[bytes, bool]]] = {}
    plain: dict[bytes, bytes] = {}
    for name, value in raw:
        base, star, rest = name.partition(b"*")
        number = rest.rstrip(b"*")
        if not star or not base or (rest and not number.isdigit()) \
                or rest.count(b"*") > 1:
            key = name
            if key not in plain:
                plain[key] = value
                order.append(key)
            continue
        index = int(number) if number else 0
        extended = not rest or rest.endswith(b"*")
        group = sections.setdefault(base, {})
        if not group:
            order.append(base + b"*")
        group.setdefault(index, (value, extended))
    wire: list[tuple[bytes, bytes]] = []
    decoded: dict[str, str] = {}
    for key in order:
        if key in plain:
            value = plain[key]
            wire.append((key, value))
            decoded.setdefault(key.decode("latin-1"), decode_words(value))
            continue
        base = key[:-1]
        pieces = [sections[base][k] for k in sorted(sections[base])]
        if not any(extended for _, extended in pieces):
            value = b"".join(v for v, _ in pieces)
            wire.append((base, value))
            decoded[base.decode("latin-1")] = decode_words(value)
            continue
        charset, language, first = b"", b"", pieces[0][0]
        if pieces[0][1] and first.count(b"'") >= 2:
            charset, language, first = first.split(b"'", 2)
        pieces[0] = (first, pieces[0][1])
        encoded = b"".join(v if ext else _percent_encode(v) for v, ext in pieces)
        wire.append((key, charset + b"'" + language + b"'" + encoded))
        text = b"".join(_percent_decode(v) if ext else v for v, ext in pieces)
        decoded[base.decode("latin-1")] = _charset_text(text, charset.decode("latin-1"))
    return tuple(wire), decoded


def _content_type(part: Part, value: bytes | None, digest_child: bool) -> None:
    if value is None:
        if digest_child:
            part.type, part.subtype = "message", "rfc822"
        return
    major, i = _token(value, 0)
    i = _skip_cfws(value, i)
    if not major or i >= len(value) or value[i] != 0x2F:  # "/"
        return
    minor, i = _token(value, i + 1)
    if not minor:
        return
    part.type = major.decode("latin-1").lower()
    part.subtype = minor.decode("latin-1").lower()
    part.type_params, part.params = _params(_raw_params(value, i))


def _apply_fields(part: Part, fields: dict[str, bytes], digest_child: bool) -> None:
    """Fill in the Content-* fields (the first of each name counts)."""
    _content_type(part, fields.get("content-type"), digest_child)
    if part.type == "text":
        part.params.setdefault("charset", "us-ascii")
    encoding = fields.get("content-transfer-encoding")
    if encoding is not None:
        token, i = _token(encoding, 0)
        if token and _skip_cfws(encoding, i) >= len(encoding):
            part.transfer_encoding = token.decode("latin-1").lower()
    disposition = fields.get("content-disposition")
    if disposition is not None:
        token, i = _token(disposition, 0)
        if token:
            part.disposition = token.decode("latin-1").lower()
            part.disposition_wire, part.disposition_params = _params(
                _raw_params(disposition, i))
    language = fields.get("content-language")
    if language is not None:
        tags = []
        i = _skip_cfws(language, 0)
        while True:
            end = _run(language, i, _CFWS_SPACE | {0x2C, 0x28})
            if end == i:
                break
            tags.append(language[i:end].decode("latin-1"))
            i = _skip_cfws(language, end)
            if i >= len(language) or language[i] != 0x2C:
                break
            i = _skip_cfws(language, i + 1)
        part.language = tuple(tags)
    part.content_id = _stripped(fields.get("content-id"))
    part.description = _stripped(fields.get("content-description"))
    part.location = _stripped(fields.get("content-location"))
    part.md5 = _stripped(fields.get("content-md5"))


def _stripped(value: bytes | None) -> bytes | None:
    return None if value is None else value.strip(b" \t\r\n")


# -- the part tree ----------------------------------------------------------------------------

@dataclass(slots=True)
class _Stop:
    """A boundary line that ends an entity."""

    index: int
    """Which boundary of the stack (0 = outermost)."""
    start: int
    """Where the line break before the boundary line starts: the entity ends here."""
    after: int
    """Just past the boundary line and its line break."""
    close: bool
    """A close delimiter ("--boundary--")."""


class _Parser:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.count = 0

    def boundary_at(self, line: int, stack: tuple[bytes, ...]) -> tuple[int, bool] | None:
        """The longest boundary of `stack` that the line at `line` ("--...") starts with."""
        raw = self.raw
        best = -1
        for index, boundary in enumerate(stack):
            if raw.startswith(boundary, line + 2) and (
                    best < 0 or len(boundary) > len(stack[best])):
                best = index
        if best < 0:
            return None
        return best, raw.startswith(b"--", line + 2 + len(stack[best]))

    def next_boundary(self, pos: int, stack: tuple[bytes, ...]) -> _Stop | None:
        """The first boundary line at or after `pos` (which is at the start of a line)."""
        if not stack:
            return None
        raw = self.raw
        if raw.startswith(b"--", pos):
            hit = self.boundary_at(pos, stack)
            if hit is not None:
                return self._stop(pos, pos, hit)
        i = pos
        while True:
            i = raw.find(b"\n--", i)
            if i < 0:
                return None
            hit = self.boundary_at(i + 1, stack)
            if hit is not None:
                start = i - 1 if i > pos and raw[i - 1] == 0x0D else i
                return self._stop(start, i + 1, hit)
            i += 1

    def _stop(self, start: int, line: int, hit: tuple[int, bool]) -> _Stop:
        eol = self.raw.find(b"\n", line)
        return _Stop(hit[0], start, len(self.raw) if eol < 0 else eol + 1, hit[1])

    def header(self, start: int, stack: tuple[bytes, ...]
               ) -> tuple[int, dict[str, bytes], _Stop | None]:
        """Read the header at `start`: where it ends, its Content-* fields (unfolded), and the
        boundary line that cut it short, if one did."""
        raw = self.raw
        end = len(raw)
        pos = start
        lines: list[tuple[str, int, int]] = []  # (content field name or "", line, value)
        while pos < end:
            eol = raw.find(b"\n", pos)
            line_end = end if eol < 0 else eol + 1
            first = raw[pos]
            if first == 0x0A or (first == 0x0D and raw.startswith(b"\r\n", pos)):
                return line_end, self._content_fields(lines, pos), None
            if first == 0x2D and stack and raw.startswith(b"--", pos):
                hit = self.boundary_at(pos, stack)
                if hit is not None:
                    cut = pos
                    if cut > start:
                        cut -= 2 if cut - 2 >= start and raw[cut - 2:cut] == b"\r\n" else 1
                    return cut, self._content_fields(lines, cut), self._stop(cut, pos, hit)
            if first not in _WSP:
                colon = raw.find(b":", pos, line_end)
                if colon >= 0 and raw[pos:pos + 8].lower() == b"content-":
                    name = raw[pos:colon].rstrip(_WSP).decode("latin-1").lower()
                    lines.append((name, pos, colon + 1))
                else:
                    lines.append(("", pos, pos))
            pos = line_end
        return end, self._content_fields(lines, end), None

    def _content_fields(self, lines: list[tuple[str, int, int]], end: int) -> dict[str, bytes]:
        fields: dict[str, bytes] = {}
        for k, (name, _, value_start) in enumerate(lines):
            if name and name not in fields:
                value_end = lines[k + 1][1] if k + 1 < len(lines) else end
                fields[name] = unfold(self.raw[value_start:value_end]).strip(b" \t")
        return fields

    def entity(self, start: int, stack: tuple[bytes, ...], depth: int,
               digest_child: bool) -> tuple[Part, _Stop | None]:
        """The entity at `start` and the boundary line that ended it (None: end of data)."""
        self.count += 1
        header_end, fields, stop = self.header(start, stack)
        part = Part(start, header_end, header_end, header_end)
        _apply_fields(part, fields, digest_child)
        limited = depth >= MAX_DEPTH or self.count >= MAX_PARTS
        if part.type == "multipart":
            boundary = (dict(part.type_params).get(b"boundary")
                        or part.params.get("boundary", "").encode("utf-8"))
            if not boundary:
                part.type, part.subtype = "text", "plain"
                part.params.setdefault("charset", "us-ascii")
            elif limited:
                part.type, part.subtype = "application", "octet-stream"
            elif stop is None:
                stop = self.multipart(part, stack + (boundary,), depth)
            else:
                part.multipart = True
            part.body_end = len(self.raw) if stop is None else stop.start
            if part.multipart:
                return part, stop
        elif part.type == "message" and part.subtype in MESSAGE_SUBTYPES:
            if limited:
                part.type, part.subtype = "application", "octet-stream"
            elif stop is None:
                part.message, stop = self.entity(header_end, stack, depth + 1, False)
                part.body_end = part.message.body_end
                return part, stop
            else:
                part.message = Part(header_end, header_end, header_end, header_end,
                                    params={"charset": "us-ascii"})
                return part, stop
        if stop is None:
            stop = self.next_boundary(header_end, stack)
        part.body_end = len(self.raw) if stop is None else max(stop.start, header_end)
        return part, stop

    def multipart(self, part: Part, stack: tuple[bytes, ...], depth: int) -> _Stop | None:
        """Read the children up to the close delimiter, then the epilogue; the stop returned
        belongs to an enclosing multipart."""
        part.multipart = True
        own = len(stack) - 1
        digest = part.subtype == "digest"
        stop = self.next_boundary(part.body_start, stack)
        while stop is not None and stop.index == own and not stop.close:
            if self.count >= MAX_PARTS:
                stop = self.next_boundary(stop.after, stack)
                continue
            child, stop = self.entity(stop.after, stack, depth + 1, digest)
            part.children.append(child)
        if stop is not None and stop.index == own:
            stop = self.next_boundary(stop.after, stack[:own])
        return stop


def parse(raw: bytes) -> Part:
    """The part tree of a whole message."""
    return _Parser(raw).entity(0, (), 0, False)[0]
