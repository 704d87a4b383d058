"""Rewriting the HTML bodies of a message: link targets, and an element added at the end.

For open and click tracking at delivery. Every text/html part that is not an attachment (and
not inside an attached message) is decoded from its Content-Transfer-Encoding, changed, and
encoded the same way again; all other octets of the message stay as they were. The HTML is
read with the standard library's tokenizer (`html.parser`), so tags in comments, scripts and
styles are left alone; only the href value of `<a>` start tags is replaced (in the case and
quoting it was written with), and the added element goes before the last `</body>`, else at
the end. A 7bit or 8bit part whose lines would grow past 998 octets is relabelled
quoted-printable (RFC 5322 2.1.1). A part in UTF-16 or UTF-32 is not touched.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

from postoffice.message import mime
from postoffice.message.binary import base64_lines, relabel, splice
from postoffice.message.encoding import quoted_printable

__all__ = ["Links", "rewrite_html", "rewrite_html_text"]

Links = Callable[[str], str | None]
"""A link target (entities decoded, white space trimmed) -> its new target, or None to keep it."""
Edit = tuple[int, int, bytes]
"""Replace raw[start:end] with the bytes."""

MAX_LINE = 998
_ATTRIBUTE = re.compile(r"""([^\s/>"'=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
_WIDE = ("utf-16", "utf-32", "utf16", "utf32", "ucs-2", "ucs2")


def rewrite_html(raw: bytes, *, links: Links | None = None, append: bytes = b"") -> bytes:
    """The message with its HTML parts rewritten (`raw` itself when nothing changes)."""
    root = mime.parse(raw)
    edits: list[Edit] = []
    for part in _html_parts(root):
        edits += _part_edits(raw, part, links, append)
    return splice(raw, edits)


def rewrite_html_text(text: str, *, links: Links | None = None, append: str = "") -> str:
    """HTML source with the href of each `<a>` start tag passed through `links` and `append`
    inserted before the last `</body>` (else at the end, before trailing line breaks)."""
    finder = _Finder(text)
    finder.feed(text)
    finder.close()
    edits: list[tuple[int, int, str]] = []
    if links is not None:
        for start, tag in finder.anchors:
            edits += _href_edit(start, tag, links)
    if append:
        at = finder.body_end if finder.body_end >= 0 else len(text.rstrip("\r\n"))
        edits.append((at, at, append))
    out, pos = [], 0
    for start, end, value in sorted(edits):
        out += [text[pos:start], value]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _html_parts(part: mime.Part) -> list[mime.Part]:
    """Text/html leaves that are the message's own text (attached messages are not opened)."""
    if part.multipart:
        return [found for child in part.children for found in _html_parts(child)]
    if part.content_type != "text/html" or part.disposition == "attachment":
        return []
    if part.params.get("charset", "").lower().startswith(_WIDE):
        return []
    if part.transfer_encoding not in mime.KNOWN_ENCODINGS or part.transfer_encoding == "binary":
        return []
    return [part]


def _part_edits(raw: bytes, part: mime.Part, links: Links | None, append: bytes) -> list[Edit]:
    data = mime.decoded_body(raw, part)
    # Latin-1 maps octets to characters one to one: ASCII-compatible charsets pass unchanged.
    text = data.decode("latin-1")
    changed = rewrite_html_text(text, links=links, append=append.decode("latin-1"))
    if changed == text:
        return []
    new = changed.encode("latin-1")
    body = raw[part.body_start:part.body_end]
    encoding = part.transfer_encoding
    if encoding == "base64":
        eol = b"\r\n" if b"\r\n" in body else b"\n"
        trail = body[len(body.rstrip(b"\r\n")):]
        return [(part.body_start, part.body_end, base64_lines(new, eol) + trail)]
    if encoding == "quoted-printable":
        return [(part.body_start, part.body_end, quoted_printable(new))]
    if max(len(line.rstrip(b"\r")) for line in new.split(b"\n")) <= MAX_LINE:
        return [(part.body_start, part.body_end, new)]
    return relabel(raw, part, b"quoted-printable") + [
        (part.body_start, part.body_end, quoted_printable(new))]


def _href_edit(start: int, tag: str, links: Links) -> list[tuple[int, int, str]]:
    """The edit of the first href attribute of the start tag `tag` (at `start`), if any."""
    pos = 2  # after "<a"
    while pos < len(tag):
        while pos < len(tag) and (tag[pos].isspace() or tag[pos] == "/"):
            pos += 1
        match = _ATTRIBUTE.match(tag, pos)
        if match is None or match.end() == pos:
            return []
        pos = match.end()
        if match[1].lower() != "href":
            continue
        value = match[2]
        if value is None:
            return []
        quoted = value[:1] in ("'", '"')
        target = html.unescape(value[1:-1] if quoted else value).strip()
        new = links(target)
        if new is None:
            return []
        begin, end = match.span(2)
        return [(start + begin, start + end, '"' + html.escape(new, quote=True) + '"')]
    return []


class _Finder(HTMLParser):
    """Where the `<a>` start tags and the last `</body>` are, as offsets into the text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=False)
        self._lines = [0] + [m.end() for m in re.finditer("\n", text)]
        self.anchors: list[tuple[int, str]] = []
        self.body_end = -1

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        written = self.get_starttag_text()
        if tag == "a" and written is not None:
            self.anchors.append((self._offset(), written))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()

