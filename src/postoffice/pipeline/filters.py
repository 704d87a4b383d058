"""The MDA's Sieve step: what one recipient's active script makes of one message.

Pure: `decide` turns the script's actions into filings (folder and flags of each local copy),
redirect targets, a rejection and a vacation reply; `vacation_reply` writes that reply. A
script that fails to parse or run gives a plain keep and the error, so no mail is lost."""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from functools import lru_cache

from postoffice import sieve
from postoffice.message import headers as fields_of
from postoffice.sieve.interpreter import mime_parts
from postoffice.sieve.nodes import Script, Strings
from postoffice.storage.interfaces import Filing

SYSTEM_FLAGS = {f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                                       "\\Draft")}
_ATOM_SPECIALS = set('(){ %*"\\]')


@dataclass(frozen=True)
class Decision:
    """One recipient's script applied to one message."""

    filings: tuple[Filing, ...]
    """The local copies (none when the script discarded, rejected or only redirected)."""
    redirects: tuple[str, ...] = ()
    reject: str | None = None
    """The reason, when the script refused the message (reject, ereject)."""
    vacation: sieve.Vacation | None = None
    error: str | None = None
    """Why the script failed (the message is then kept as if there were no script)."""


@lru_cache(maxsize=512)
def compiled(source: str) -> Script | sieve.SieveError:
    """The parsed and checked script, or why it cannot run (cached by source)."""
    try:
        script = sieve.parse(source)
        sieve.check(script)
    except sieve.SieveError as error:
        return error
    return script


def needs_body(script: Script) -> bool:
    """Whether the script requires the body extension (so the MIME parts must be decoded)."""
    return any(command.name == "require" and any(
        isinstance(arg, Strings) and "body" in (v.lower() for v in arg.values)
        for arg in command.args) for command in script.commands)


def message_for(content: bytes, *, envelope_from: str, envelope_to: str,
                spam_score: float | None, spam_threshold: float, now: datetime,
                body: bool, folders: frozenset[str] = frozenset()) -> sieve.Message:
    """What the interpreter sees of `content` for one recipient; the decoded parts only
    when `body` (the script has body tests)."""
    end = fields_of.header_end(content)
    head = content if end < 0 else content[:end]
    raw_body = b"" if end < 0 else content[end:].removeprefix(b"\r\n").removeprefix(b"\n")
    parts = mime_parts(content) if body else ()
    return sieve.Message(
        headers=fields_of.parse_fields(head), envelope_from=envelope_from,
        envelope_to=envelope_to, size=len(content), spam_score=spam_score,
        spam_threshold=spam_threshold,
        text_parts=tuple(text for kind, text in parts if kind.startswith("text/")),
        raw_body=raw_body if body else b"", mime_parts=parts, now=now, folders=folders)


def decide(address: str, source: str, message: sieve.Message) -> Decision:
    """The delivery of one message to `address` under the script `source`."""
    script = compiled(source)
    if isinstance(script, sieve.SieveError):
        return Decision((Filing(address),), error=f"line {script.line}: {script.reason}")
    result = sieve.execute(script, message)
    if result.error is not None:
        return Decision((Filing(address),), error=f"line {result.line}: {result.error}")
    filings: list[Filing] = []
    redirects: list[str] = []
    reject = None
    vacation = None
    for action in result.actions:
        if action.kind == "keep":
            filings.append(Filing(address, None, imap_flags(action.flags)))
        elif action.kind == "fileinto":
            filings.append(Filing(address, action.argument, imap_flags(action.flags),
                                  action.create))
        elif action.kind == "redirect":
            redirects.append(action.argument)
        elif action.kind in ("reject", "ereject"):
            reject = one_line(action.argument) or "Rejected by the recipient's filter"
        elif action.kind == "vacation":
            vacation = action.vacation
    return Decision(tuple(filings), tuple(redirects), reject, vacation)


def imap_flags(flags: tuple[str, ...]) -> tuple[str, ...]:
    """The flags an IMAP mailbox can store: system flags (but \\Recent) in their usual
    spelling and keywords made of atom characters; others are dropped."""
    kept: dict[str, str] = {}
    for flag in flags:
        if flag.startswith("\\"):
            system = SYSTEM_FLAGS.get(flag.lower())
            if system is not None:
                kept.setdefault(system.lower(), system)
        elif flag and all(33 <= ord(c) < 127 and c not in _ATOM_SPECIALS for c in flag):
            kept.setdefault(flag.lower(), flag)
    return tuple(kept.values())


def one_line(text: str, limit: int = 200) -> str:
    """Text safe for an SMTP reply line: control characters gone, at most `limit` chars."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat[:limit]


def vacation_reply(vacation: sieve.Vacation, *, user: str, to: str,
                   original: list[tuple[str, str]], hostname: str,
                   now: float | None = None) -> bytes:
    """The reply a vacation action sends to `to` (the return path) for `user` (RFC 5230
    section 5): its own From, an "Auto:" subject, In-Reply-To and References to the original,
    Auto-Submitted: auto-replied; CRLF line ends."""
    when = time.time() if now is None else now
    values = {name.lower(): value.strip() for name, value in original}
    subject = vacation.subject
    if not subject:
        subject = "Auto: " + _unfold(values.get("subject", "")) if values.get("subject") \
            else "Automated reply"
    message_id = values.get("message-id", "")
    references = " ".join(filter(None, (_unfold(values.get("references", "")), message_id)))
    lines = [
        f"From: {_from_field(vacation.sender or user)}",
        f"To: <{to}>",
        f"Subject: {_header_text(subject)}",
        f"Date: {format_datetime(datetime.fromtimestamp(when).astimezone())}",
        f"Message-ID: <{secrets.token_hex(8)}.{int(when)}@{hostname}>",
        "Auto-Submitted: auto-replied (vacation)",
        "Precedence: bulk",
    ]
    if message_id:
        lines.append(f"In-Reply-To: {message_id}")
    if references:
        lines.append(f"References: {references}")
    lines.append("MIME-Version: 1.0")
    reason = vacation.reason.replace("\r\n", "\n").replace("\n", "\r\n")
    if vacation.mime:
        return ("\r\n".join(lines) + "\r\n" + reason).encode("utf-8")
    encoding = "7bit" if reason.isascii() else "8bit"
    lines += ["Content-Type: text/plain; charset=utf-8", f"Content-Transfer-Encoding: {encoding}"]
    body = reason if reason.endswith("\r\n") else reason + "\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def own_addresses(user: str, vacation: sieve.Vacation) -> tuple[str, ...]:
    """The addresses that count as the user's for `should_reply` (RFC 5230 4.5)."""
    extra = [address for _, address in getaddresses(list(vacation.addresses)) if address]
    return (user, *extra)


def _from_field(sender: str) -> str:
    """The From value: an address as given, a non-ASCII display name encoded (RFC 2047)."""
    name, address = parseaddr(one_line(sender, 900))
    if not address:
        return one_line(sender, 900)
    return formataddr((name, address), "utf-8")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).strip()


def _header_text(text: str) -> str:
    """A header value as written when ASCII, else one RFC 2047 encoded word per 45 octets."""
    flat = one_line(text, 900)
    if flat.isascii():
        return flat
    data = flat.encode("utf-8")
    words, start = [], 0
    while start < len(data):
        end = min(start + 45, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # do not split a character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode()}?=")
        start = end
    return "\r\n ".join(words)
