"""What a received message reports about earlier mail: a bounce, a delay notice, a complaint
(ARF, RFC 5965/6650), an auto-reply (RFC 3834), or nothing.

`read_report` tries, in order: a feedback-report part (complaint); a delivery-status part with
failed or delayed recipients (RFC 3464); the plain-text bounces of MTAs without DSN support
(`message.textbounce`); the auto-reply signs of the header. Any line ends are accepted (CRLF,
LF, bare CR) and an mbox "From " line is ignored. Pure: no I/O; the reason classes of the
failures are `policy.bounces`'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from postoffice.message import mime, textbounce
from postoffice.message.dsn import ReportedRecipient, parse_dsn


class ReportKind(StrEnum):
    """What the message is."""

    BOUNCE = "bounce"
    DELAY = "delay"
    COMPLAINT = "complaint"
    AUTOREPLY = "autoreply"
    NONE = "none"


@dataclass(frozen=True)
class ReportedFailure:
    """One recipient a bounce or delay notice (or a complaint) names."""

    address: str
    """The recipient's address as written: a DSN's Original-Recipient (the address the
    sender used) when it is an address, else its Final-Recipient; a text bounce's address."""
    action: str
    """"failed" or "delayed" ("complained" in a complaint)."""
    status: str | None = None
    """RFC 3463 enhanced status code ("5.1.1"), when the report gives one."""
    reply_code: int | None = None
    """The remote server's SMTP reply code (550), when the report gives one."""
    diagnostic: str | None = None
    """The diagnostic text (Diagnostic-Code, or the text next to the address), one line."""
    final_recipient: str | None = None
    """Final-Recipient of a DSN, decoded (it may differ from `address` after aliasing)."""
    remote_mta: str | None = None
    """Remote-MTA of a DSN: the server that gave the diagnostic."""
    context: str | None = None
    """The text around the address in a plain-text bounce: what its reason is read from
    when the diagnostic says nothing."""


@dataclass(frozen=True)
class Complaint:
    """The machine-readable part of an ARF report (RFC 5965 3.1, 3.2)."""

    feedback_type: str
    """abuse, fraud, virus, not-spam, auth-failure, other (lower case)."""
    user_agent: str | None = None
    version: str | None = None
    original_mail_from: str | None = None
    """The reported message's envelope sender, angle brackets removed."""
    original_rcpt_to: tuple[str, ...] = ()
    """Original-Rcpt-To values, angle brackets removed."""
    source_ip: str | None = None
    arrival_date: str | None = None
    """Arrival-Date (or Received-Date) as written."""
    reported_domain: tuple[str, ...] = ()
    reported_uri: tuple[str, ...] = ()
    incidents: int | None = None
    fields: tuple[tuple[str, str], ...] = ()
    """Every field of the feedback-report part (lower-cased name, value), in order."""


@dataclass(frozen=True)
class Report:
    """What `read_report` found."""

    kind: ReportKind
    recipients: tuple[ReportedFailure, ...] = ()
    """Failed or delayed recipients (bounce, delay) or complaining ones (complaint)."""
    complaint: Complaint | None = None
    """The feedback report of a complaint."""
    source: str = ""
    """How it was recognised: "arf", "dsn", "text", "header" or "" (kind none)."""


_RETURNED = frozenset({"message/rfc822", "message/global", "text/rfc822-headers",
                       "message/global-headers"})
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_FEEDBACK_TYPE = "message/feedback-report"
_REPLY_CODE = re.compile(r"^\s*([245]\d\d)(?![\d.])")
_AUTOREPLY_SUBJECT = re.compile(
    r"auto.?(reply|response|antwort|risposta|respuesta)|automatic reply|automatische antwort"
    r"|out of (the )?office|vacation|away from (the |my )?office|abwesenheit|absence"
    r"|r[ée]ponse automatique|respuesta autom[aá]tica|automatiska atbilde|on leave",
    re.IGNORECASE)


def normalize(raw: bytes) -> bytes:
    """LF line ends (from CRLF, LF or bare CR), without a leading mbox "From " line."""
    data = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if data.startswith(b"From "):
        data = data.partition(b"\n")[2]
    return data


def read_report(raw: bytes) -> Report:
    """Classify and read one message."""
    data = normalize(raw)
    top = mime.parse(data)
    header = mime.header_fields(data[top.header_start:top.header_end])
    parts = top.walk()
    feedback = next((p for p in parts if p.content_type == _FEEDBACK_TYPE), None)
    if feedback is not None:
        return _complaint(data, feedback, parts)
    texts = _own_texts(data, top)
    found = textbounce.scan(texts, header)
    dsn = _dsn_failures(data, parts, found)
    if dsn:
        return Report(_kind(dsn), dsn, source="dsn")
    if found.is_bounce:
        kind = ReportKind.DELAY if found.delayed else ReportKind.BOUNCE
        action = "delayed" if found.delayed else "failed"
        failures = tuple(ReportedFailure(f.address, action, f.status, f.reply_code,
                                         f.diagnostic, context=found.context)
                         for f in found.recipients)
        return Report(kind, failures, source="text")
    if is_autoreply(header):
        return Report(ReportKind.AUTOREPLY, source="header")
    return Report(ReportKind.NONE)


def _kind(failures: tuple[ReportedFailure, ...]) -> ReportKind:
    if any(f.action == "failed" for f in failures):
        return ReportKind.BOUNCE
    return ReportKind.DELAY


# -- the bounce's own text ---------------------------------------------------------------------

def _own_texts(data: bytes, top: mime.Part) -> list[str]:
    """The text of the parts the reporting system wrote: text parts outside any returned
    message (HTML reduced to text); a body that is not MIME counts as text."""
    texts: list[str] = []
    stack = [top]
    while stack:
        part = stack.pop(0)
        if part.multipart:
            stack[:0] = part.children
        elif part.type == "text" and part.content_type not in _RETURNED:
            text = mime.text_of(data, part)
            texts.append(textbounce.html_text(text) if part.subtype == "html" else text)
    return texts


# -- delivery status notifications ---------------------------------------------------------------

def _dsn_failures(data: bytes, parts: list[mime.Part],
                  found: textbounce.Findings) -> tuple[ReportedFailure, ...]:
    """The failed and delayed recipients of a delivery-status part; the text's diagnostic
    fills in where the status part has none."""
    if not any(p.content_type in _STATUS_TYPES for p in parts):
        return ()
    parsed = parse_dsn(data)
    if parsed is None:
        return ()
    by_address = {f.address.lower(): f for f in found.recipients}
    failures: dict[str, ReportedFailure] = {}
    for rcpt in parsed.recipients:
        action = _action(rcpt)
        original = rcpt.original_recipient or ""
        address = original if "@" in original else rcpt.final_recipient
        if action is None or "@" not in address or address.lower() in failures:
            continue
        diagnostic = _diagnostic(rcpt)
        text = by_address.get(address.lower())
        if diagnostic is None and text is not None:
            diagnostic = text.diagnostic
        code = _REPLY_CODE.match(diagnostic or "")
        failures[address.lower()] = ReportedFailure(
            address=address, action=action, status=rcpt.status or None,
            reply_code=int(code[1]) if code else (text.reply_code if text else None),
            diagnostic=diagnostic, final_recipient=rcpt.final_recipient or None,
            remote_mta=rcpt.remote_mta, context=found.context or None)
    return tuple(failures.values())


def _diagnostic(rcpt: ReportedRecipient) -> str | None:
    """Diagnostic-Code as one line; else a comment after the Status code."""
    if rcpt.diagnostic:
        return " ".join(rcpt.diagnostic.split())
    status = next((v for n, v in rcpt.fields if n.lower() == "status"), "")
    comment = re.search(r"\((.+)\)", status)
    return " ".join(comment[1].split()) if comment else None


def _action(rcpt: ReportedRecipient) -> str | None:
    """"failed", "delayed", or None for a recipient that was delivered."""
    if rcpt.action in ("failed", "failure", "delayed"):
        return "delayed" if rcpt.action == "delayed" else "failed"
    if not rcpt.action and rcpt.status[:1] in ("4", "5"):
        return "failed" if rcpt.status[0] == "5" else "delayed"
    return None


# -- complaints (ARF) --------------------------------------------------------------------------

def _complaint(data: bytes, feedback: mime.Part, parts: list[mime.Part]) -> Report:
    fields = mime.header_fields(mime.decoded_body(data, feedback).replace(b"\r\n", b"\n"))
    values: dict[str, list[str]] = {}
    for name, value in fields:
        values.setdefault(name, []).append(mime.decode_words(value).strip())

    def first(*names: str) -> str | None:
        return next((values[n][0] for n in names if n in values), None)

    rcpt_to = tuple(_bare(v) for v in values.get("original-rcpt-to", ()))
    incidents = first("incidents")
    complaint = Complaint(
        feedback_type=(first("feedback-type") or "other").lower(),
        user_agent=first("user-agent"), version=first("version"),
        original_mail_from=_bare(first("original-mail-from") or "") or None,
        original_rcpt_to=rcpt_to, source_ip=first("source-ip"),
        arrival_date=first("arrival-date", "received-date"),
        reported_domain=tuple(values.get("reported-domain", ())),
        reported_uri=tuple(values.get("reported-uri", ())),
        incidents=int(incidents) if incidents and incidents.isdigit() else None,
        fields=tuple((n, mime.decode_words(v)) for n, v in fields))
    addresses = rcpt_to or _returned_recipients(data, parts)
    recipients = tuple(ReportedFailure(a, "complained") for a in addresses)
    return Report(ReportKind.COMPLAINT, recipients, complaint, source="arf")


def _returned_recipients(data: bytes, parts: list[mime.Part]) -> tuple[str, ...]:
    """The To addresses of the reported message (message/rfc822 or text/rfc822-headers)."""
    for part in parts:
        if part.content_type not in _RETURNED:
            continue
        if part.message is not None:
            head = data[part.message.header_start:part.message.header_end]
        else:
            head = mime.decoded_body(data, part)
        values = [mime.decode_words(v) for n, v in mime.header_fields(head) if n == "to"]
        return tuple(a for v in values for a in textbounce.addresses_in(v))
    return ()


@dataclass(frozen=True)
class Returned:
    """What identifies the message a bounce or complaint returns (its header section)."""

    message_id: str | None = None
    """Its Message-ID field, brackets included."""
    return_path: str | None = None
    """Its Return-Path (the envelope sender it was delivered with), brackets removed."""


def returned_message(raw: bytes) -> Returned:
    """The Message-ID and Return-Path of the returned message (message/rfc822 or
    text/rfc822-headers part) of a bounce or complaint; empty when there is none."""
    data = normalize(raw)
    for part in mime.parse(data).walk():
        if part.content_type not in _RETURNED:
            continue
        if part.message is not None:
            head = data[part.message.header_start:part.message.header_end]
        else:
            head = mime.decoded_body(data, part)
        values: dict[str, str] = {}
        for name, value in mime.header_fields(head):
            values.setdefault(name, value.decode("utf-8", "replace").strip())
        found = re.search(r"<[^<>\s]+>", values.get("message-id", ""))
        path = _bare(values.get("return-path", "")) or None
        return Returned(found[0] if found else None, path)
    return Returned()


def _bare(value: str) -> str:
    return value.strip().strip("<>").strip()


# -- auto-replies (RFC 3834) -------------------------------------------------------------------

def is_autoreply(header: list[tuple[str, bytes]]) -> bool:
    """Whether the header marks an automatic reply: Auto-Submitted: auto-replied, the
    X-Autoreply family, Precedence: auto_reply, or an out-of-office subject."""
    values = {name: mime.decode_words(value).strip().lower() for name, value in reversed(header)}
    if values.get("auto-submitted", "").startswith("auto-replied"):
        return True
    if any(values.get(n) for n in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    if values.get("precedence") == "auto_reply":
        return True
    return bool(_AUTOREPLY_SUBJECT.search(values.get("subject", "")))
