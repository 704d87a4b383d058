"""Messages composed from structured input (the HTTP send API).

`compose` turns a `Draft` into the octets of a message (RFC 5322, MIME RFC 2045-2047, 2183,
2231, RFC 6532 addresses) and the facts the submission needs: the envelope recipients and
whether SMTPUTF8 is required. Every caller-supplied string is checked before use, so none can
add header fields or parts: a line break, NUL or other control character in a single-line
field is a `ComposeError` naming the field, as are invalid addresses, reserved extra headers
and inputs over the limits below.

Structure: text only -> text/plain; html only -> text/html; both -> multipart/alternative
(text first); inline attachments (with a content_id) -> multipart/related around that; other
attachments -> multipart/mixed around everything.
"""

from __future__ import annotations

import email.utils
import math
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from postoffice.clock import SYSTEM_CLOCK, Clock
from postoffice.message import encoding, unique
from postoffice.message.binary import base64_lines
from postoffice.proto.smtp.grammar import parse_path

__all__ = ["Attachment", "ComposeError", "Composed", "Draft", "compose"]

MAX_RECIPIENTS = 1000
"""To, Cc and Bcc entries together."""
MAX_REPLY_TO = 100
MAX_ADDRESS = 254
"""Octets in an address (local@domain), as SMTP paths allow."""
MAX_LOCAL_PART = 64
"""Octets in a local part (RFC 5321 4.5.3.1.1)."""
MAX_DISPLAY_NAME = 256
"""Characters in a display name."""
MAX_HEADER_VALUE = 2000
"""Characters in the subject and in each extra header value."""
MAX_HEADER_NAME = 76
MAX_EXTRA_HEADERS = 50
MAX_ATTACHMENTS = 100
MAX_FILENAME = 255
"""Characters in an attachment's filename."""
MAX_ID = 250
"""Characters in a Message-ID or Content-ID."""

RESERVED_HEADERS = frozenset({
    "from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
    "mime-version", "received", "return-path", "delivered-to", "dkim-signature",
    "domainkey-signature", "authentication-results", "received-spf",
})
"""Extra header names a caller may not set: the composer writes them, or only servers do."""
RESERVED_PREFIXES = ("content-", "resent-", "arc-")

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_MSG_ID = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>|({_DOT_ATOM}@{_DOT_ATOM})")
_CID = re.compile(r"<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+)>|([A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+)")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_MAILBOX = re.compile(r"(.*?)\s*<([^<>]*)>", re.DOTALL)
_QUOTED_NAME = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_BLANKS = re.compile(r"[ \t]+")
_LATEST = 253402300800.0  # 10000-01-01T00:00:00Z


class ComposeError(ValueError):
    """A draft that cannot become a message; `field` names the input as the API does:
    "subject", "to[1]", "headers.X-Custom", "attachments[0].filename"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Attachment:
    """A file carried by the message, base64-encoded."""

    filename: str
    """The name shown to recipients (any Unicode; a single line; outer white space goes)."""
    content: bytes
    """The file's octets."""
    content_type: str = ""
    """"type/subtype"; empty: guessed from the filename with `mimetypes`, else
    application/octet-stream."""
    content_id: str | None = None
    """Set: an inline part (Content-Disposition: inline, Content-ID: <content_id>) in a
    multipart/related with the HTML, which refers to it as "cid:content_id"."""


@dataclass(frozen=True)
class Draft:
    """What a caller asks to send. Addresses are "addr@example.com" or
    "Display Name <addr@example.com>"."""

    from_: str
    """The author (one address)."""
    to: tuple[str, ...]
    """Recipients named in To."""
    cc: tuple[str, ...] = ()
    """Recipients named in Cc."""
    bcc: tuple[str, ...] = ()
    """Recipients that get the message without appearing in it."""
    reply_to: tuple[str, ...] = ()
    """Where replies go, when not to the author."""
    subject: str = ""
    """The subject (any Unicode; a single line); empty: no Subject field."""
    text: str | None = None
    """The plain-text body."""
    html: str | None = None
    """The HTML body."""
    attachments: tuple[Attachment, ...] = ()
    """Files, inline (with a content_id) or not."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra header fields (name, value), after the composer's own; not RESERVED_HEADERS."""
    message_id: str | None = None
    """The Message-ID ("id@domain", angle brackets optional); None: a random one."""
    date: float | None = None
    """The Date as seconds since the epoch; None: now."""


@dataclass(frozen=True)
class Composed:
    """A composed message and what its submission needs."""

    content: bytes
    """The message: CRLF line ends, no line over 998 octets, ending with CRLF."""
    message_id: str
    """The Message-ID field's value, angle brackets included."""
    envelope_to: tuple[str, ...]
    """To, Cc and Bcc as bare addresses, duplicates dropped, first occurrence kept (domains
    as A-labels unless smtputf8)."""
    smtputf8: bool
    """An address has a UTF-8 local part: the message and envelope need SMTPUTF8."""
    eight_bit: bool
    """The content has octets above 127 (UTF-8 addresses only): send with BODY=8BITMIME."""


@dataclass(frozen=True)
class _Mailbox:
    name: str
    local: str
    domain: str
    ascii_domain: str

    def address(self, utf8: bool) -> str:
        return f"{self.local}@{self.domain if utf8 else self.ascii_domain}"


# -- checks -----------------------------------------------------------------------------------

def _line(field: str, value: str, limit: int) -> str:
    """`value` if it is one line of valid Unicode within `limit` characters."""
    bad = _CONTROL.search(value)
    if bad is not None:
        char = bad[0]
        what = ("a line break" if char in "\r\n\x85\u2028\u2029"
                else "a NUL character" if char == "\0" else "a control character")
        raise ComposeError(field, f"contains {what}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ComposeError(field, "is not valid Unicode") from None
    if len(value) > limit:
        raise ComposeError(field, f"is longer than {limit} characters")
    return value


def _ascii_domain(field: str, domain: str) -> str:
    if domain.startswith("["):
        return domain
    try:
        ascii_form = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ComposeError(field, "has a domain that is not a valid IDN") from None
    if not all(0 < len(label) <= 63 for label in ascii_form.split(".")):
        raise ComposeError(field, "has a domain label longer than 63 octets")
    return ascii_form


@lru_cache(maxsize=4096)
def _mailbox(field: str, entry: str) -> _Mailbox:
    """(Cached: a batch repeats its From.) An address entry: "addr@example.com" or "Display Name <addr@example.com>" (the name may
    be a quoted string)."""
    text = _line(field, entry, MAX_DISPLAY_NAME + MAX_ADDRESS + 8).strip()
    match = _MAILBOX.fullmatch(text)
    name, address = (match[1], match[2].strip()) if match else ("", text)
    quoted = _QUOTED_NAME.fullmatch(name)
    # runs of white space in a phrase read as one space (RFC 5322 3.2.2)
    name = _BLANKS.sub(" ", _QUOTED_PAIR.sub(r"\1", quoted[1]) if quoted else name).strip()
    if len(name) > MAX_DISPLAY_NAME:
        raise ComposeError(field, f"has a display name longer than {MAX_DISPLAY_NAME} characters")
    try:
        path, rest = parse_path(f"<{address}>")
    except ValueError:
        raise ComposeError(field, "is not a valid address") from None
    box = path.mailbox
    if rest or box is None or not box.domain:
        raise ComposeError(field, "is not a valid address")
    if len(box.local_part.encode()) > MAX_LOCAL_PART or len(address.encode()) > MAX_ADDRESS:
        raise ComposeError(field, "is too long for an address")
    return _Mailbox(name, box.local_part, box.domain, _ascii_domain(field, box.domain))


def _mailboxes(field: str, entries: Sequence[str]) -> list[_Mailbox]:
    return [_mailbox(f"{field}[{i}]", entry) for i, entry in enumerate(entries)]


@lru_cache(maxsize=256)
def _extra_fields(headers: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """(Cached: a batch repeats its extra fields.)"""
    if len(headers) > MAX_EXTRA_HEADERS:
        raise ComposeError("headers", f"has more than {MAX_EXTRA_HEADERS} fields")
    fields = []
    for i, (name, value) in enumerate(headers):
        _line(f"headers[{i}]", name, MAX_HEADER_NAME)
        if not _FIELD_NAME.fullmatch(name):
            raise ComposeError(f"headers[{i}]", "is not a valid header field name")
        where = f"headers.{name}"
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_PREFIXES):
            raise ComposeError(where, "may not be set")
        _line(where, value, MAX_HEADER_VALUE)
        pieces = (encoding.raw_pieces(value) if value.isascii()
                  else encoding.text_pieces(name, value.strip(" \t")))
        try:
            fields.append(encoding.fold(name, pieces))
        except encoding.FoldError:
            raise ComposeError(where, "has a word too long for a header line") from None
    return tuple(fields)


def _msg_id(field: str, value: str, pattern: re.Pattern[str]) -> str:
    match = pattern.fullmatch(_line(field, value, MAX_ID))
    if match is None:
        raise ComposeError(field, "is not a valid identifier (id@domain)")
    return match[1] or match[2]


@lru_cache(maxsize=64)
def _hostname(hostname: str) -> str:
    try:
        name = hostname if hostname.isascii() else hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise ComposeError("hostname", "is not a valid host name") from None
    if not re.fullmatch(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", name):
        raise ComposeError("hostname", "is not a valid host name")
    return name


def _date(when: float) -> str:
    if not math.isfinite(when) or not 0 <= when < _LATEST:
        raise ComposeError("date", "is not a time this millennium can write")
    return _second_date(int(when))


@lru_cache(maxsize=4)
def _second_date(second: int) -> str:
    """The Date of a whole second (cached: the messages of a batch share a few seconds;
    formatdate drops the fraction anyway)."""
    try:
        return email.utils.formatdate(second, localtime=True)
    except (OverflowError, OSError, ValueError):
        raise ComposeError("date", "is not a time this system can write") from None


# -- parts ------------------------------------------------------------------------------------

def _text_part(subtype: str, text: str, field: str) -> encoding.Entity:
    try:
        return encoding.text_entity(subtype, encoding.crlf(text).encode("utf-8"))
    except UnicodeEncodeError:
        raise ComposeError(field, "is not valid Unicode") from None


def _guess_type(filename: str) -> str:
    """The media type for a filename (mimetypes reads the system's mime.types once)."""
    kind, wrapper = mimetypes.guess_type(filename, strict=True)
    if wrapper == "gzip":
        return "application/gzip"
    if kind is None or wrapper is not None or kind.startswith(("multipart/", "message/")):
        return "application/octet-stream"
    return kind


def _attachment_part(i: int, attachment: Attachment) -> tuple[encoding.Entity, str | None]:
    """The part and its Content-ID (None for an ordinary attachment)."""
    where = f"attachments[{i}]"
    filename = _line(f"{where}.filename", attachment.filename, MAX_FILENAME).strip()
    if not filename:
        raise ComposeError(f"{where}.filename", "is empty")
    kind = _line(f"{where}.content_type", attachment.content_type, 255).strip().lower()
    if not kind:
        kind = _guess_type(filename)
    elif not _MEDIA_TYPE.fullmatch(kind):
        raise ComposeError(f"{where}.content_type", "is not a media type (type/subtype)")
    elif kind.startswith(("multipart/", "message/")):
        raise ComposeError(f"{where}.content_type", "cannot be sent base64-encoded")
    cid = None
    if attachment.content_id is not None:
        cid = _msg_id(f"{where}.content_id", attachment.content_id, _CID)
    fields = [
        encoding.mime_field("Content-Type", kind, encoding.name_param("name", filename)),
        encoding.mime_field("Content-Disposition", "attachment" if cid is None else "inline",
                            encoding.param("filename", filename, quote=True)),
    ]
    if cid is not None:
        fields.append(f"Content-ID: <{cid}>")
    fields.append("Content-Transfer-Encoding: base64")
    return encoding.Entity(tuple(fields), base64_lines(bytes(attachment.content))), cid


def _body(draft: Draft) -> encoding.Entity:
    if len(draft.attachments) > MAX_ATTACHMENTS:
        raise ComposeError("attachments", f"has more than {MAX_ATTACHMENTS} files")
    texts = []
    if draft.text is not None:
        texts.append(_text_part("plain", draft.text, "text"))
    if draft.html is not None:
        texts.append(_text_part("html", draft.html, "html"))
    inline: list[encoding.Entity] = []
    files: list[encoding.Entity] = []
    seen: dict[str, int] = {}
    for i, attachment in enumerate(draft.attachments):
        part, cid = _attachment_part(i, attachment)
        if cid is None:
            files.append(part)
            continue
        where = f"attachments[{i}].content_id"
        if draft.html is None:
            raise ComposeError(where, "an inline part needs an html body")
        if cid in seen:
            raise ComposeError(where, f"repeats attachments[{seen[cid]}].content_id")
        seen[cid] = i
        inline.append(part)
    if not texts:
        if not files:
            raise ComposeError("text", "a message needs text, html or an attachment")
        return encoding.multipart("mixed", files)
    core = texts[0] if len(texts) == 1 else encoding.multipart("alternative", texts)
    if inline:
        core = encoding.multipart("related", [core, *inline])
    return encoding.multipart("mixed", [core, *files]) if files else core


# -- the message ------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _author_field(sender: _Mailbox, utf8: bool) -> str:
    """The From field (cached: a batch repeats its author)."""
    return _address_field("From", [sender], utf8)


def _address_field(name: str, boxes: Sequence[_Mailbox], utf8: bool) -> str:
    pieces: list[str] = []
    for i, box in enumerate(boxes):
        address = box.address(utf8)
        words = [*encoding.phrase(box.name), f"<{address}>"] if box.name else [address]
        if i < len(boxes) - 1:
            words[-1] += ","
        pieces.extend(" " + word for word in words)
    return encoding.fold(name, pieces)


def compose(draft: Draft, *, hostname: str, clock: Clock = SYSTEM_CLOCK) -> Composed:
    """The message for `draft`; Message-ID <random@hostname> and Date (now, local zone)
    unless the draft gives them. ComposeError names the first field that cannot be used."""
    sender = _mailbox("from", draft.from_)
    lists = {"to": draft.to, "cc": draft.cc, "bcc": draft.bcc}
    if sum(len(entries) for entries in lists.values()) > MAX_RECIPIENTS:
        names = [f"{name}[{i}]" for name, entries in lists.items() for i in range(len(entries))]
        raise ComposeError(names[MAX_RECIPIENTS], f"is past the limit of {MAX_RECIPIENTS} recipients")
    if len(draft.reply_to) > MAX_REPLY_TO:
        raise ComposeError("reply_to", f"has more than {MAX_REPLY_TO} addresses")
    to, cc = _mailboxes("to", draft.to), _mailboxes("cc", draft.cc)
    bcc, reply_to = _mailboxes("bcc", draft.bcc), _mailboxes("reply_to", draft.reply_to)
    if not (to or cc or bcc):
        raise ComposeError("to", "a message needs at least one recipient")
    subject = _line("subject", draft.subject, MAX_HEADER_VALUE)
    extra = _extra_fields(tuple(draft.headers))
    now = clock.now()
    if draft.message_id is None:
        message_id = f"<{unique.sortable_token(now)}@{_hostname(hostname)}>"
    else:
        message_id = f"<{_msg_id('message_id', draft.message_id, _MSG_ID)}>"
    date = _date(now if draft.date is None else draft.date)
    core = _body(draft)

    utf8 = any(not box.local.isascii() for box in (sender, *to, *cc, *bcc, *reply_to))
    fields = [f"Date: {date}", _author_field(sender, utf8)]
    if to:
        fields.append(_address_field("To", to, utf8))
    if cc:
        fields.append(_address_field("Cc", cc, utf8))
    if not (to or cc):
        fields.append("To: undisclosed-recipients:;")
    if reply_to:
        fields.append(_address_field("Reply-To", reply_to, utf8))
    if subject:
        fields.append(encoding.fold("Subject", encoding.text_pieces("Subject", subject)))
    fields += [f"Message-ID: {message_id}", *extra, "MIME-Version: 1.0", *core.fields]
    content = encoding.Entity(tuple(fields), core.body).render()
    if not content.endswith(b"\r\n"):
        content += b"\r\n"

    envelope: dict[tuple[str, str], str] = {}
    for box in (*to, *cc, *bcc):
        envelope.setdefault((box.local, box.ascii_domain.lower()), box.address(utf8))
    return Composed(content, message_id, tuple(envelope.values()), utf8, not content.isascii())
