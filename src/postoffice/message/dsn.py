"""Delivery status notifications: building them (RFC 3464, RFC 3461, RFC 6533) and reading them.

`build_dsn` writes the whole notice as bytes: a `multipart/report` with a plain-words text
part, the machine-readable `message/delivery-status` part, and the original message (or its
header). `should_notify` says whether the sender asked for one (RFC 3461 NOTIFY).
`parse_dsn` reads the delivery-status part of any DSN, ours or another MTA's.

Choices made here (RFC 3461 leaves them to the implementation):

- What comes back (`ReturnPolicy`). Only a DSN that reports a failure returns the full
  message; delay and success notices carry the header only. RET=HDRS: the header.
  RET=FULL: the full message up to `full_limit` octets (256 KiB), the header beyond, and the
  text part says so. RET absent: the full message up to `implicit_full_limit` (64 KiB), the
  header beyond: a bulk sender who did not ask gets small messages back whole and is spared
  megabytes of its own newsletter.
- NOTIFY absent means failures only; delay notices too when the operator enables them
  (`delay_default`, RFC 3461 4.1 leaves it open).
- Original-Envelope-Id and Original-Recipient carry the decoded ENVID and ORCPT (RFC 3461
  4.2 and 4.4 restrict them to printable ASCII after xtext decoding precisely so the DSN can
  show them as they are; sendmail, too, writes the ENVID decoded). A value that would not be
  printable ASCII (a control character) keeps its xtext form, so nothing can break a field.
- Internationalised mail (RFC 6533). If the original transaction used SMTPUTF8 or the sender's
  address is not ASCII, the notice uses the global types (`message/global-delivery-status`,
  `message/global`, `message/global-headers`) with raw UTF-8 addresses (`utf-8; jose@...`).
  Otherwise it stays ASCII, and a non-ASCII recipient is written `utf-8;` in the 7-bit
  utf-8-addr-xtext form (`\\x{E9}`). The text part is quoted-printable when not ASCII; an
  8-bit returned original or UTF-8 in a global report makes those parts, and the notice,
  8bit (send it with BODY=8BITMIME).
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.utils
import hashlib
import quopri
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email import quoprimime
from enum import StrEnum

from postoffice.message.dates import parse_date
from postoffice.message.headers import header_end, parse_fields
from postoffice.message.trace import rfc5322_date
from postoffice.proto.smtp.grammar import xtext_decode, xtext_encode


class Action(StrEnum):
    """RFC 3464 2.3.3 action-value."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    """Handed on to a next hop that does not do DSN: no further notice will come."""
    EXPANDED = "expanded"
    """Delivered to an alias or list, which passed it on to several recipients."""


_NOTIFY_KEYWORD = {
    Action.FAILED: "FAILURE",
    Action.DELAYED: "DELAY",
    Action.DELIVERED: "SUCCESS",
    Action.RELAYED: "SUCCESS",
    Action.EXPANDED: "SUCCESS",
}
_STATUS_CLASS = {Action.FAILED: "45", Action.DELAYED: "4"}  # others: "2"
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
_STATUS_IN_TEXT = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])")


@dataclass(frozen=True, kw_only=True)
class DsnRecipient:
    """What happened to one recipient: one per-recipient block of the report."""

    final_recipient: str
    """The address delivery was attempted to (the RCPT TO path, without angle brackets)."""
    original_recipient: str | None = None
    """The ORCPT parameter as received ("rfc822;" + xtext, or "utf-8;" + RFC 6533 form)."""
    action: Action
    status: str
    """Enhanced status code (RFC 3463), e.g. "5.1.1"; 4.4.7 with FAILED for an expired item."""
    diagnostic: str | None = None
    """The remote server's reply, e.g. "550 5.1.1 <bob@example.org>: no such user"."""
    remote_mta: str | None = None
    """Host name of the server that gave `diagnostic`."""
    last_attempt: float | None = None
    will_retry_until: float | None = None
    """When the queue gives up (DELAYED only; ignored otherwise)."""


@dataclass(frozen=True)
class ReturnPolicy:
    """How much of the original message comes back in a failure notice."""

    full_limit: int = 256 * 1024
    """RET=FULL: larger messages return their header only."""
    implicit_full_limit: int = 64 * 1024
    """RET absent: failures return the full message up to this size, the header beyond."""


# -- deciding --------------------------------------------------------------------------------

def should_notify(
    kind: Action | str,
    notify_values: Iterable[str],
    mail_from: str,
    *,
    delay_default: bool = False,
) -> bool:
    """Whether the sender wants a DSN of this kind for a recipient (RFC 3461 4.1).

    `kind` is an `Action` (or FAILURE, DELAY, SUCCESS); `notify_values` is the recipient's NOTIFY list (empty when NOTIFY was not given): NEVER
    means none; otherwise FAILURE, DELAY, SUCCESS (the last for delivered, relayed and
    expanded). Without NOTIFY: failures, and delays when `delay_default`. Never for the null
    reverse path, so a bounce is never bounced."""
    if mail_from.strip().strip("<>").strip() == "":
        return False
    keyword = kind.upper()
    if keyword not in ("FAILURE", "DELAY", "SUCCESS"):
        keyword = _NOTIFY_KEYWORD[Action(kind.lower())]
    wanted = {v.strip().upper() for v in notify_values if v.strip()}
    if not wanted:
        return keyword == "FAILURE" or (keyword == "DELAY" and delay_default)
    return "NEVER" not in wanted and keyword in wanted


# -- building --------------------------------------------------------------------------------

def build_dsn(
    *,
    reporting_mta: str,
    sender: str,
    recipients: Sequence[DsnRecipient],
    original: bytes,
    arrival: float,
    now: float,
    ret: str | None = None,
    envid: str | None = None,
    smtputf8: bool = False,
    message_id: str | None = None,
    policy: ReturnPolicy = ReturnPolicy(),  # noqa: B008 (frozen, never mutated)
) -> bytes:
    """A complete DSN message (CRLF line ends) from MAILER-DAEMON@`reporting_mta` to `sender`.

    The caller sends it with the NULL reverse path (MAIL FROM:<>) to `sender`, the original
    envelope sender, so that a failure to deliver the notice is never notified in turn; with
    BODY=8BITMIME when it is 8-bit, and SMTPUTF8 when `sender` is not ASCII.

    `recipients` may mix actions; the subject follows the gravest (failed, delayed, success).
    `original` is the message as queued; `arrival` when it was received; `now` the date of the
    notice. `ret` and `envid` are the RET and ENVID parameters as received (ENVID in xtext),
    `smtputf8` whether the original transaction used SMTPUTF8. `message_id` defaults to one
    derived from the content. Pure: the same arguments give the same bytes."""
    if not sender.strip("<> "):
        raise ValueError("no DSN to the null reverse path")
    for value, spaces in ((sender, True), (reporting_mta, False), (message_id or "x", False)):
        if not value or _CONTROLS.search(value) or (" " in value.strip() and not spaces):
            raise ValueError(f"unusable in a header: {value!r}")
    if not recipients:
        raise ValueError("a DSN reports at least one recipient")
    for rcpt in recipients:
        _check_status(rcpt)
    if ret is not None and ret.upper() not in ("FULL", "HDRS"):
        raise ValueError(f"RET must be FULL or HDRS, not {ret!r}")
    sender = sender.strip().strip("<>")
    utf8 = smtputf8 or not sender.isascii()
    original = re.sub(rb"\r?\n", b"\r\n", original)
    failed = any(r.action is Action.FAILED for r in recipients)
    delayed = any(r.action is Action.DELAYED for r in recipients)
    full, note = _what_returns(len(original), ret, failed, policy)
    returned = original if full else _header_section(original)
    if full and not returned.endswith(b"\r\n"):
        returned += b"\r\n"

    digest = hashlib.sha256(
        repr((reporting_mta, sender, recipients, arrival, now, ret, envid)).encode() + original
    ).hexdigest()
    boundary = f"{digest[:20]}/{reporting_mta}"
    while f"--{boundary}".encode() in original:
        boundary = f"{hashlib.sha256(boundary.encode()).hexdigest()[:20]}/{reporting_mta}"
    if message_id is None:
        message_id = f"<{int(now)}.{digest[20:36]}.dsn@{reporting_mta}>"

    subject = (
        "Undelivered Mail Returned to Sender" if failed
        else "Delayed Mail (still being retried)" if delayed
        else "Successful Mail Delivery Report"
    )
    report = "global-delivery-status" if utf8 else "delivery-status"
    status_body = _status_text(reporting_mta, recipients, arrival, envid, utf8).encode("utf-8")
    eight_bit = not (returned.isascii() and status_body.isascii())
    head = [
        f"Date: {rfc5322_date(now)}",
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{sender}>",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/report; report-type={report};",
        f'\tboundary="{boundary}"',
    ]
    if eight_bit:
        head.append("Content-Transfer-Encoding: 8bit")
    text = _human_text(reporting_mta, recipients, failed, delayed, note)
    text_headers, text_body = _text_part(text)
    if full:
        kind = "message/global" if utf8 else "message/rfc822"
        description = "Undelivered Message" if failed else "Message"
    else:
        kind = "message/global-headers" if utf8 else "text/rfc822-headers"
        description = "Undelivered Message Headers" if failed else "Message Headers"
    returned_headers = [f"Content-Type: {kind}", f"Content-Description: {description}"]
    status_kind = "message/global-delivery-status" if utf8 else "message/delivery-status"
    status_headers = [f"Content-Type: {status_kind}", "Content-Description: Delivery report"]
    for headers, body in ((status_headers, status_body), (returned_headers, returned)):
        if not body.isascii():
            headers.append("Content-Transfer-Encoding: 8bit")
    parts = [(text_headers, text_body), (status_headers, status_body), (returned_headers, returned)]
    out = bytearray("\r\n".join(head).encode("utf-8") + b"\r\n\r\n")
    out += b"This is a MIME-encapsulated message.\r\n\r\n"
    for headers, body in parts:
        out += f"--{boundary}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n"
        out += body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def _check_status(rcpt: DsnRecipient) -> None:
    m = _STATUS.fullmatch(rcpt.status)
    if not m:
        raise ValueError(f"not an enhanced status code: {rcpt.status!r}")
    if m.group(1) not in _STATUS_CLASS.get(rcpt.action, "2"):
        raise ValueError(f"status {rcpt.status} does not fit action {rcpt.action}")


def _what_returns(size: int, ret: str | None, failed: bool, policy: ReturnPolicy) -> tuple[bool, str]:
    """(full message?, the sentence saying what is attached)."""
    ret = ret.upper() if ret else None
    if not failed:
        return False, "The header of your message is attached."
    if ret == "HDRS":
        return False, "The header of your message is attached, as you asked."
    limit = policy.full_limit if ret == "FULL" else policy.implicit_full_limit
    if size <= limit:
        return True, "Your message is attached."
    return False, (
        f"Your message ({size} bytes) is larger than the {limit} bytes this mail system "
        "returns, so only its header is attached."
    )


def _header_section(original: bytes) -> bytes:
    end = header_end(original)
    section = original if end < 0 else original[:end]
    return section[:-2] if section.endswith(b"\r\n\r\n") or section == b"\r\n" else section


# Plain words for enhanced status codes (RFC 3463 subject.detail, a few common ones).
_MEANING = {
    "1.0": "there is a problem with the address", "1.1": "the mailbox does not exist",
    "1.2": "the recipient's domain does not exist or does not receive mail",
    "1.3": "the address is not valid", "1.6": "the recipient has moved, leaving no new address",
    "1.10": "the recipient's domain does not accept mail at all (null MX)",
    "2.0": "there is a problem with the recipient's mailbox", "2.1": "the mailbox is disabled",
    "2.2": "the mailbox is full", "2.3": "the message is larger than the mailbox accepts",
    "3.0": "the receiving mail system has a problem",
    "3.4": "the message is too big for the receiving mail system",
    "4.0": "the network or the routing to the recipient's domain failed",
    "4.1": "the recipient's mail server did not answer",
    "4.2": "the connection to the recipient's mail server broke",
    "4.3": "looking up the recipient's domain (DNS) failed",
    "4.4": "no mail server for the recipient's domain could be reached",
    "4.6": "the message was going round in a loop",
    "4.7": "the message could not be delivered within the time allowed",
    "5.0": "the conversation with the recipient's mail server failed",
    "6.0": "the receiving system did not accept the message's content",
    "6.7": "the address needs internationalised mail (SMTPUTF8), which the server lacks",
    "7.0": "the receiving system refused the message under its security policy",
    "7.1": "the receiving system does not accept this message from this sender",
}


def _meaning(status: str) -> str:
    klass, subject, detail = status.split(".")
    found = _MEANING.get(f"{subject}.{detail}") or _MEANING.get(f"{subject}.0")
    if found:
        return found
    return {"2": "success", "4": "a temporary failure"}.get(klass, "a permanent failure")


def _human_text(
    host: str, recipients: Sequence[DsnRecipient], failed: bool, delayed: bool, note: str,
) -> str:
    if failed:
        intro = ("Your message could not be delivered to the address(es) below. "
                 "This is final: the mail system will not try again.")
        if delayed:
            intro += " Delivery to the other address(es) is still being tried."
    elif delayed:
        intro = ("Your message has not been delivered yet to the address(es) below. This is only "
                 "a warning: the mail system keeps trying, and you do not need to send it again. "
                 "You will be told if it finally fails.")
    else:
        intro = "This is the delivery report you asked for."
    lines = [f"This is the mail system at {host}.", ""]
    lines += textwrap.wrap(intro, 76) + [""]
    for rcpt in recipients:
        lines += textwrap.wrap(f"<{rcpt.final_recipient}>: {_what_happened(rcpt)}", 76,
                               subsequent_indent="    ", break_long_words=False)
        if rcpt.status[0] != "2":
            lines += textwrap.wrap(f"Reason: {_meaning(rcpt.status)} ({rcpt.status}).", 76,
                                   initial_indent="    ", subsequent_indent="    ")
        if rcpt.diagnostic:
            said = f"The mail server {rcpt.remote_mta} said:" if rcpt.remote_mta else "Details:"
            lines.append(f"    {said}")
            lines += textwrap.wrap(_oneline(rcpt.diagnostic, True), 72,
                                   initial_indent="        ", subsequent_indent="        ",
                                   break_on_hyphens=False)
        lines.append("")
    lines += textwrap.wrap(note, 76)
    return "\r\n".join(lines) + "\r\n"


def _what_happened(rcpt: DsnRecipient) -> str:
    where = f" by {rcpt.remote_mta}" if rcpt.remote_mta else ""
    until = rcpt.will_retry_until
    return {
        Action.FAILED: "delivery failed.",
        Action.DELAYED: "not delivered yet; still trying"
                        + (f" until {rfc5322_date(until)}." if until is not None else "."),
        Action.DELIVERED: f"delivered{where}.",
        Action.RELAYED: f"handed on{where} to a system that sends no delivery reports; "
                        "no further notice will come.",
        Action.EXPANDED: "delivered to a list or alias, which passed it on to its members.",
    }[rcpt.action]


def _text_part(text: str) -> tuple[list[str], bytes]:
    if text.isascii():
        return (["Content-Type: text/plain; charset=us-ascii", "Content-Description: Notification"],
                text.encode("ascii"))
    encoded = quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), eol="\r\n")
    return (["Content-Type: text/plain; charset=utf-8", "Content-Description: Notification",
             "Content-Transfer-Encoding: quoted-printable"], encoded.encode("ascii"))


def _status_text(
    host: str, recipients: Sequence[DsnRecipient], arrival: float, envid: str | None, utf8: bool,
) -> str:
    blocks = []
    fields = [("Reporting-MTA", f"dns; {host}")]
    if envid:
        fields.append(("Original-Envelope-Id", _printable_or_xtext(envid)))
    fields.append(("Arrival-Date", rfc5322_date(arrival)))
    blocks.append(fields)
    for rcpt in recipients:
        fields = []
        if rcpt.original_recipient:
            fields.append(("Original-Recipient", _orcpt_field(rcpt.original_recipient, utf8)))
        fields.append(("Final-Recipient", _typed_address(rcpt.final_recipient, utf8)))
        fields.append(("Action", rcpt.action.value))
        fields.append(("Status", rcpt.status))
        if rcpt.remote_mta:
            fields.append(("Remote-MTA", f"dns; {_oneline(rcpt.remote_mta, utf8)}"))
        if rcpt.diagnostic:
            fields.append(("Diagnostic-Code", f"smtp; {_oneline(rcpt.diagnostic, utf8)}"))
        if rcpt.last_attempt is not None:
            fields.append(("Last-Attempt-Date", rfc5322_date(rcpt.last_attempt)))
        if rcpt.action is Action.DELAYED and rcpt.will_retry_until is not None:
            fields.append(("Will-Retry-Until", rfc5322_date(rcpt.will_retry_until)))
        blocks.append(fields)
    return "\r\n\r\n".join("\r\n".join(_fold(n, v) for n, v in b) for b in blocks) + "\r\n"


def _fold(name: str, value: str, width: int = 78) -> str:
    """`Name: value`, folded at spaces before `width` where possible (RFC 5322 2.2.3)."""
    line = f"{name}: {value}"
    if len(line) <= width:
        return line
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if not word:
            continue
        word = word[:900]  # one unbreakable word must still fit the 998-octet line limit
        if len(current) + 1 + len(word) > width and current.strip() != f"{name}:":
            lines.append(current)
            current = "    " + word
        else:
            current += " " + word
    lines.append(current)
    return "\r\n".join(lines)


def _oneline(text: str, utf8: bool) -> str:
    """Text for one field: line breaks and controls become spaces; non-ASCII becomes "?"
    unless the report is global."""
    text = _CONTROLS.sub(" ", text).strip()
    return text if utf8 else "".join(c if c.isascii() else "?" for c in text)


def _printable_or_xtext(value: str) -> str:
    """ENVID (xtext as received) decoded, if the result is printable ASCII."""
    try:
        decoded = xtext_decode(value)
    except ValueError:
        return _oneline(value, False)
    return decoded if _PRINTABLE.fullmatch(decoded) else xtext_encode(decoded)


_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_UNICODE_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def _typed_address(address: str, utf8: bool, addr_type: str = "rfc822") -> str:
    """`rfc822; a@b` for printable ASCII; otherwise `utf-8;` raw (global report) or in the
    7-bit utf-8-addr-xtext form (RFC 6533 3), which is also used for any control character."""
    if addr_type.lower() != "utf-8" and _PRINTABLE.fullmatch(address):
        return f"{addr_type}; {address}"
    raw = utf8 and not _CONTROLS.search(address)
    return f"utf-8; {address if raw else utf8_addr_xtext(address)}"


def _orcpt_field(orcpt: str, utf8: bool) -> str:
    addr_type, semi, value = orcpt.partition(";")
    if not semi:
        addr_type, value = "rfc822", orcpt
    addr_type = addr_type.strip()
    if addr_type.lower() == "utf-8":
        return _typed_address(_unitext_decode(value), utf8, "utf-8")
    try:
        decoded = xtext_decode(value)
    except ValueError:
        return f"{addr_type}; {_oneline(value, False)}"
    if addr_type.lower() == "rfc822":
        return _typed_address(decoded, utf8)
    return f"{addr_type}; {decoded if _PRINTABLE.fullmatch(decoded) else value}"


def utf8_addr_xtext(address: str) -> str:
    """RFC 6533 utf-8-addr-xtext: printable ASCII stays (but "\\", "+", "=" and everything else
    become `\\x{HEX}`), so the result is 7-bit and valid xtext."""
    return "".join(
        c if "!" <= c <= "~" and c not in "\\+=" else f"\\x{{{ord(c):02X}}}" for c in address
    )


def _unitext_decode(value: str) -> str:
    """utf-8-addr-xtext or utf-8-addr-unitext to the address (lenient about hex case)."""
    return _UNICODE_ESCAPE.sub(lambda m: _chr(int(m.group(1), 16), m.group(0)), value)


def _chr(code: int, fallback: str) -> str:
    return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else fallback


# -- reading ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportedRecipient:
    """One per-recipient block of a DSN as read. Addresses are decoded (xtext, RFC 6533)."""

    final_recipient: str
    """The Final-Recipient address ("" when the block has none)."""
    action: str
    """Lower-case first word of Action: normally failed, delayed, delivered, relayed, expanded."""
    status: str
    """"5.1.1"; taken from Diagnostic-Code when Status is missing or malformed; "" if unknown."""
    original_recipient: str | None = None
    diagnostic: str | None = None
    """Diagnostic-Code without its type ("550 5.1.1 ...")."""
    remote_mta: str | None = None
    last_attempt: float | None = None
    will_retry_until: float | None = None
    fields: tuple[tuple[str, str], ...] = ()
    """Every field of the block, unfolded, in order."""


@dataclass(frozen=True)
class ParsedDsn:
    """The machine-readable content of a DSN."""

    reporting_mta: str | None
    original_envelope_id: str | None
    arrival_date: float | None
    recipients: tuple[ReportedRecipient, ...]
    fields: tuple[tuple[str, str], ...]
    """The per-message fields, unfolded, in order."""
    returned_headers: bytes | None
    """Header fields of the returned message (each ending in CRLF, no blank line after), or
    None when nothing came back."""
    returned_full: bool
    """Whether the whole message came back (message/rfc822 or message/global)."""


_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURN_TYPES = {"message/rfc822": True, "message/global": True,
                 "text/rfc822-headers": False, "message/global-headers": False}
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient")


def parse_dsn(message: bytes) -> ParsedDsn | None:
    """The delivery report in `message`, or None when it has no delivery-status part.

    Lenient, as real bounces need: LF or CRLF line ends, an mbox "From " line, base64 or
    quoted-printable parts, the report nested in another multipart, comments after Status,
    recipient blocks run together without a blank line."""
    data = re.sub(rb"\r?\n", b"\r\n", message)
    status_part: tuple[list[tuple[str, str]], bytes] | None = None
    returned: tuple[list[tuple[str, str]], bytes, bool] | None = None
    for content_type, fields, body in _walk(data, 0):
        if content_type in _STATUS_TYPES and status_part is None:
            status_part = (fields, body)
        elif content_type in _RETURN_TYPES and status_part is not None and returned is None:
            returned = (fields, body, _RETURN_TYPES[content_type])
    if status_part is None:
        return None
    text = _decoded(*status_part).decode("utf-8", "replace")
    per_message, blocks = _split_blocks(text)
    returned_headers = None
    if returned is not None:
        body = _decoded(returned[0], returned[1])
        end = header_end(body)
        returned_headers = body if end < 0 else body[: max(end - 2, 0)]
    first = _lookup(per_message)
    return ParsedDsn(
        reporting_mta=_untyped(first("reporting-mta")),
        original_envelope_id=first("original-envelope-id"),
        arrival_date=_date(first("arrival-date")),
        recipients=tuple(_recipient(b) for b in blocks),
        fields=tuple(per_message),
        returned_headers=returned_headers,
        returned_full=returned is not None and returned[2],
    )


def _walk(data: bytes, depth: int) -> Iterable[tuple[str, list[tuple[str, str]], bytes]]:
    """(content type, header fields, raw body) of this entity and every descendant, in order;
    enclosed messages too (a bounce forwarded as an attachment still reads)."""
    fields, body, content_type, boundary = _head_and_body(data)
    yield content_type, fields, body
    if depth >= 16:
        return
    if content_type.startswith("multipart/") and boundary:
        for part in _split_multipart(body, boundary):
            yield from _walk(part, depth + 1)
    elif content_type in ("message/rfc822", "message/global"):
        yield from _walk(_decoded(fields, body), depth + 1)


def _head_and_body(data: bytes) -> tuple[list[tuple[str, str]], bytes, str, str | None]:
    end = header_end(data)
    head, body = (data, b"") if end < 0 else (data[:end], data[end:])
    fields = parse_fields(head)
    parsed = email.message.Message()
    for name, value in fields:
        if name.lower() == "content-type":
            parsed["Content-Type"] = value
            break
    return fields, body, parsed.get_content_type(), parsed.get_boundary()


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in body.split(b"\r\n"):
        if line.startswith(delimiter):
            rest = line[len(delimiter):].rstrip(b" \t")
            if rest in (b"", b"--"):
                if current is not None:
                    parts.append(b"\r\n".join(current))
                current = None if rest == b"--" else []
                if rest == b"--":
                    return parts
                continue
        if current is not None:
            current.append(line)
    if current is not None:
        parts.append(b"\r\n".join(current))
    return parts


def _decoded(fields: list[tuple[str, str]], body: bytes) -> bytes:
    encoding = next((v for n, v in fields if n.lower() == "content-transfer-encoding"), "")
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            body = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/]", b"", body) + b"==")
        elif encoding == "quoted-printable":
            body = quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return body
    return re.sub(rb"\r?\n", b"\r\n", body)


def _split_blocks(text: str) -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """Per-message fields and per-recipient blocks. A blank line ends a block; a recipient
    field in the first block, or a second Final-Recipient in one block, starts a new one."""
    raw_blocks = re.split(r"\r\n[ \t]*\r\n", text.strip("\r\n"))
    blocks = [parse_fields(b.encode("utf-8") + b"\r\n") for b in raw_blocks]
    blocks = [b for b in blocks if b]
    if not blocks:
        return [], []
    per_message: list[tuple[str, str]] = []
    groups: list[list[tuple[str, str]]] = []
    for index, block in enumerate(blocks):
        current: list[tuple[str, str]] | None = None if index == 0 else []
        for name, value in block:
            lname = name.lower()
            if lname in _RECIPIENT_FIELDS and (current is None or _starts_new(lname, current)):
                if current:
                    groups.append(current)
                current = []
            if current is None:
                per_message.append((name, value))
            else:
                current.append((name, value))
        if current:
            groups.append(current)
    return per_message, [g for g in groups if any(n.lower() in _RECIPIENT_FIELDS for n, _ in g)]


def _starts_new(name: str, current: list[tuple[str, str]]) -> bool:
    """Whether recipient field `name` begins another recipient in a run-together block: the
    field repeats, or an Original-Recipient follows a complete Final-Recipient group."""
    seen = {n.lower() for n, _ in current}
    return name in seen or (name == "original-recipient" and {"final-recipient", "action"} <= seen)


def _lookup(fields: list[tuple[str, str]]) -> Callable[[str], str | None]:
    return lambda name: next((v.strip() for n, v in fields if n.lower() == name), None)


def _recipient(block: list[tuple[str, str]]) -> ReportedRecipient:
    first = _lookup(block)
    diagnostic = _untyped(first("diagnostic-code"))
    return ReportedRecipient(
        final_recipient=_address(first("final-recipient")) or "",
        action=(first("action") or "").split(" ")[0].split("(")[0].lower(),
        status=_status_of(first("status"), diagnostic),
        original_recipient=_address(first("original-recipient")),
        diagnostic=diagnostic,
        remote_mta=_untyped(first("remote-mta")),
        last_attempt=_date(first("last-attempt-date")),
        will_retry_until=_date(first("will-retry-until")),
        fields=tuple(block),
    )


def _status_of(status: str | None, diagnostic: str | None) -> str:
    """The enhanced code of Status; else the one after the reply code in Diagnostic-Code;
    else the class of a basic reply code in either ("553 ..." gives "5.0.0")."""
    m = _STATUS_IN_TEXT.search(status or "")
    if m:
        return m.group(0)
    for text in (diagnostic, status):
        m = re.match(r"\s*([245])\d\d(?:[ -]+([245]\.\d{1,3}\.\d{1,3})(?![\d.]))?", text or "")
        if m:
            return m.group(2) or f"{m.group(1)}.0.0"
    return ""


def _untyped(value: str | None) -> str | None:
    """The value after `type;` (Reporting-MTA, Remote-MTA, Diagnostic-Code)."""
    if value is None:
        return None
    kind, semi, rest = value.partition(";")
    return rest.strip() if semi and re.fullmatch(r"\s*[A-Za-z0-9-]+\s*", kind) else value.strip()


def _address(value: str | None) -> str | None:
    """Address of `type; address`, decoded: xtext for rfc822, \\x{..} for utf-8."""
    if value is None:
        return None
    kind, semi, address = value.partition(";")
    if not semi:
        kind, address = "rfc822", value
    address = re.sub(r"\s*\([^)]*\)\s*$", "", address).strip().strip("<>").strip()
    return _unitext_decode(address) if kind.strip().lower() == "utf-8" else address


def _date(value: str | None) -> float | None:
    if not value:
        return None
    when = parse_date(value)
    return None if when is None else when.timestamp()
