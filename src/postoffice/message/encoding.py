"""Encodings for composing messages: header folding (RFC 5322 2.2.3), encoded words (RFC 2047),
display-name phrases, MIME parameters (RFC 2045, 2231) and text bodies (RFC 2045 6.7).

Header text comes back as `str` lines joined with CRLF (no final CRLF); lengths are counted in
UTF-8 octets, since a header may carry UTF-8 addresses (RFC 6532).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from postoffice.message import unique

__all__ = [
    "FOLD_AT", "MAX_ENCODED_WORD", "MAX_LINE", "Entity", "FoldError", "crlf", "encoded_words",
    "fold", "mime_field", "multipart", "name_param", "needs_quoted_printable", "param", "phrase",
    "quoted_printable", "raw_pieces", "text_entity", "text_pieces",
]

FOLD_AT = 78
"""Header lines are folded to stay within this many octets wherever the content allows."""
MAX_LINE = 998
"""No line may be longer than this many octets, CRLF excluded (RFC 5322 2.1.1)."""
MAX_ENCODED_WORD = 75
"""The longest encoded word, delimiters included (RFC 2047 2)."""
PLAIN_TEXT_LINE = 78
"""Text whose lines are all ASCII and at most this long goes as 7bit; other text as
quoted-printable."""

_EW_OVERHEAD = len("=?utf-8?Q??=")
_MIN_FIRST_WORD = _EW_OVERHEAD + 12  # room for one character of up to four octets in Q
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
# Q-encoded octets: the characters RFC 2047 5(3) allows in a phrase as themselves
_Q_TABLE = tuple(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}"
                 for b in range(256))
_ATTR_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "!#$&+-.^_`|~")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+")
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
"""Printable ASCII words separated by single spaces: such text reads back unchanged."""
_RAW_PIECE = re.compile(r"[ \t]*[^ \t]+")
_NEWLINE = re.compile(r"\r\n?|\n")
_NOT_7BIT = re.compile(rb"[^\t\r\n\x20-\x7e]")
_FROM = re.compile(rb"^From ", re.MULTILINE)


class FoldError(ValueError):
    """A header field cannot be folded into lines of at most MAX_LINE octets."""


def _octets(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# -- header fields ----------------------------------------------------------------------------

def fold(name: str, pieces: Sequence[str]) -> str:
    """The field `name: ...` made of `pieces`, each starting with SP or HTAB: a line break goes
    before a piece that would take its line past FOLD_AT octets. FoldError when a line still
    exceeds MAX_LINE."""
    start = name + ":"
    lines: list[str] = []
    line, size = start, _octets(start)
    for piece in pieces:
        length = _octets(piece)
        if size + length > FOLD_AT and (line != start or length <= FOLD_AT):
            lines.append(line)
            line, size = piece, length
        else:
            line += piece
            size += length
    lines.append(line)
    if any(_octets(text) > MAX_LINE for text in lines):
        raise FoldError(f"{name} has a word longer than a header line may be")
    return "\r\n".join(lines)


def encoded_words(text: str, first: int = MAX_ENCODED_WORD) -> list[str]:
    """`text` as UTF-8 encoded words of at most MAX_ENCODED_WORD characters (the first at most
    `first`), each holding whole characters; Q when that is no longer than B."""
    data = text.encode("utf-8")
    q_size = sum(len(_Q_TABLE[b]) for b in data)
    q = q_size <= 4 * ((len(data) + 2) // 3)
    room = (first if first >= _MIN_FIRST_WORD else MAX_ENCODED_WORD) - _EW_OVERHEAD
    words: list[str] = []
    chunk, chunk_q = b"", 0
    for char in text:
        octets = char.encode("utf-8")
        grown_q = chunk_q + sum(len(_Q_TABLE[b]) for b in octets)
        grown = grown_q if q else 4 * ((len(chunk) + len(octets) + 2) // 3)
        if chunk and grown > room:
            words.append(_word(chunk, q))
            room = MAX_ENCODED_WORD - _EW_OVERHEAD
            chunk, chunk_q = octets, grown_q - chunk_q
        else:
            chunk, chunk_q = chunk + octets, grown_q
    if chunk:
        words.append(_word(chunk, q))
    return words


def _word(data: bytes, q: bool) -> str:
    if q:
        return "=?utf-8?Q?" + "".join(_Q_TABLE[b] for b in data) + "?="
    return "=?utf-8?B?" + base64.b64encode(data).decode("ascii") + "?="


def _reads_back(text: str, longest: int) -> bool:
    """Plain ASCII words that no reader would decode or unquote differently."""
    return (bool(_PLAIN.fullmatch(text)) and "=?" not in text
            and max(len(word) for word in text.split(" ")) <= longest)


def text_pieces(name: str, value: str) -> list[str]:
    """Fold pieces of an unstructured value (Subject): its words when it is plain ASCII that
    reads back unchanged, else encoded words holding all of it, white space included."""
    if not value:
        return []
    if _reads_back(value, FOLD_AT - 1):
        return [" " + word for word in value.split(" ")]
    return [" " + word for word in encoded_words(value, FOLD_AT - len(name) - 2)]


def raw_pieces(value: str) -> list[str]:
    """Fold pieces of an ASCII value kept as written (outer white space dropped): a line may
    break before any run of white space."""
    pieces = _RAW_PIECE.findall(value.strip(" \t"))
    if pieces:
        pieces[0] = " " + pieces[0]
    return pieces


def phrase(text: str) -> list[str]:
    """A display name as header words: atoms, one quoted string, or encoded words."""
    if _reads_back(text, 60):
        if all(_ATOM.fullmatch(word) for word in text.split(" ")):
            return text.split(" ")
        if '"' not in text and "\\" not in text and len(text) <= 60:
            return [f'"{text}"']
    return encoded_words(text)


# -- MIME parameters --------------------------------------------------------------------------

Param = list[str]
"""The words of one parameter: a line may break between them ("; " goes between parameters)."""


def mime_field(name: str, value: str, params: Sequence[Param]) -> str:
    """`name: value; p1; p2...` folded; `params` from `param` and `name_param`."""
    groups = [[value], *params]
    pieces: list[str] = []
    for index, group in enumerate(groups):
        last = len(group) - 1
        more = index < len(groups) - 1
        pieces.extend(" " + word + (";" if more and i == last else "")
                      for i, word in enumerate(group))
    return fold(name, pieces)


def param(attribute: str, value: str, *, quote: bool = False) -> list[Param]:
    """`attribute=value` as a token (unless `quote`), a quoted string, or RFC 2231 extended
    values in UTF-8 (continued over several parameters when long)."""
    if not quote and _TOKEN.fullmatch(value) and len(value) <= 60:
        return [[f"{attribute}={value}"]]
    if _reads_back(value, 60) and '"' not in value and "\\" not in value and len(value) <= 60:
        return [[f'{attribute}="{value}"']]
    encoded = [char if char in _ATTR_CHARS else "".join(f"%{b:02X}" for b in char.encode())
               for char in value]
    whole = f"{attribute}*=utf-8''" + "".join(encoded)
    if len(whole) + 2 <= FOLD_AT:
        return [[whole]]
    sections: list[Param] = []
    current, empty = f"{attribute}*0*=utf-8''", True
    for piece in encoded:  # whole characters per section, each line within FOLD_AT
        if len(current) + len(piece) + 2 > FOLD_AT and not empty:
            sections.append([current])
            current = f"{attribute}*{len(sections)}*="
        current, empty = current + piece, False
    sections.append([current])
    return sections


def name_param(attribute: str, value: str) -> list[Param]:
    """`attribute="..."` with RFC 2047 encoded words inside the quotes when needed: not
    standard, but what older readers of Content-Type's `name` understand."""
    if _reads_back(value, 68) and '"' not in value and "\\" not in value and len(value) <= 68:
        return [[f'{attribute}="{value}"']]
    words = encoded_words(value, FOLD_AT - len(attribute) - 5)
    words[0] = f'{attribute}="{words[0]}'
    words[-1] += '"'
    return [words]


# -- bodies -----------------------------------------------------------------------------------

def crlf(text: str) -> str:
    """`text` with every CR LF, bare CR and bare LF as CR LF."""
    return _NEWLINE.sub("\r\n", text)


def needs_quoted_printable(data: bytes) -> bool:
    """Whether text with CRLF line ends cannot go as 7bit: it has octets outside printable
    ASCII (tab excepted) or lines longer than PLAIN_TEXT_LINE."""
    if _NOT_7BIT.search(data) or b"\r" in data.replace(b"\r\n", b""):
        return True
    return max(len(line) for line in data.split(b"\r\n")) > PLAIN_TEXT_LINE


def quoted_printable(data: bytes) -> bytes:
    """Text with CRLF line ends as quoted-printable: lines of at most 76 characters, white space
    before a line break encoded, and "From " at the start of a line as "=46rom "."""
    encoded = binascii.b2a_qp(data + b"\r\n", quotetabs=False, istext=True, header=False)
    return _FROM.sub(b"=46rom ", encoded.removesuffix(b"\r\n"))


# -- entities ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entity:
    """A MIME entity: its header fields and encoded body."""

    fields: tuple[str, ...]
    """Folded header fields without their final CRLF."""
    body: bytes

    def render(self) -> bytes:
        return "".join(f + "\r\n" for f in self.fields).encode("utf-8") + b"\r\n" + self.body


def text_entity(subtype: str, data: bytes) -> Entity:
    """A text/`subtype` part in UTF-8 for text with CRLF line ends: 7bit when it can be,
    quoted-printable otherwise."""
    quoted = needs_quoted_printable(data)
    return Entity(_text_fields(subtype, quoted), quoted_printable(data) if quoted else data)


@lru_cache(maxsize=64)
def _text_fields(subtype: str, quoted: bool) -> tuple[str, str]:
    """Content-Type and Content-Transfer-Encoding of a text part (the same for every message)."""
    content_type = mime_field("Content-Type", f"text/{subtype}", param("charset", "utf-8"))
    return content_type, f"Content-Transfer-Encoding: {'quoted-printable' if quoted else '7bit'}"


def multipart(subtype: str, children: Sequence[Entity]) -> Entity:
    """A multipart/`subtype` with a random boundary that occurs in none of its children."""
    blobs = [child.render() for child in children]
    while True:
        boundary = "=_" + unique.token()
        delimiter = b"--" + boundary.encode("ascii")
        if not any(delimiter in blob for blob in blobs):
            break
    body = b"".join(delimiter + b"\r\n" + blob + b"\r\n" for blob in blobs) + delimiter + b"--\r\n"
    return Entity((mime_field("Content-Type", f"multipart/{subtype}", param("boundary", boundary)),),
                  body)
