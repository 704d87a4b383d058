"""Plain-text bounces: the notices of MTAs that send no delivery-status part (qmail, Exim,
Exchange, Yahoo, SMTP32, ...), and the text beside one that is empty.

`scan` reads the text the reporting system wrote, up to where the returned message starts
("--- Below this line is a copy of the message", "Original message follows", ...), and finds
the failed addresses with the diagnostic written next to each: the address's line and the
lines that follow it up to a blank line or another address. Addresses of the notice's own
header (the sender the notice goes to, the reporting system) and of "From:"-like lines are
left out; those of "To:" lines count only when no other address is found; a bare local part
listed under "the following recipients:" takes the domain of the notice's From.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from postoffice.message import mime


@dataclass(frozen=True)
class TextRecipient:
    """One address a plain-text bounce names."""

    address: str
    diagnostic: str | None
    """The text next to the address (one line), or None."""
    status: str | None
    """An RFC 3463 code in the diagnostic ("5.1.1")."""
    reply_code: int | None
    """An SMTP reply code in the diagnostic (550)."""


@dataclass(frozen=True)
class Findings:
    """What `scan` made of the text."""

    is_bounce: bool
    """Whether the message reads as a delivery failure or delay notice."""
    delayed: bool
    """Whether it says delivery is still being tried (a delay notice)."""
    recipients: tuple[TextRecipient, ...]
    context: str
    """The notice's own text (up to the returned message), one line, at most 1000 characters:
    the reason when an address has no diagnostic of its own."""


_LOCAL = r"[A-Za-z0-9!#$%&*+/=?^_{|}~.'-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,}}(?![A-Za-z0-9-])")
_PREFIX = re.compile(r"^(?:smtp|rfc822|ex|x400)[=:]", re.IGNORECASE)
_SERVICE = re.compile(r"^(postmaster|mailer[-_]daemon|abuse|hostmaster|no-?reply|do-?not-?reply"
                      r"|daemon|mail-daemon|bounces?)$", re.IGNORECASE)
_SKIP_LINE = re.compile(r"^(from|sender|reply-to|return-path|message-id|in-reply-to|references"
                        r"|date|received|errors-to|delivered-to|envelope-to|list-[\w-]+"
                        r"|x-[\w-]+|de|enviado el)\s*:|please contact|contact (us|your)"
                        r"|for (assistance|help)|customer support", re.IGNORECASE)
_SECONDARY_LINE = re.compile(r"^(to|cc|bcc|para)\s*:", re.IGNORECASE)
_CUT = re.compile(
    r"^\W*(below this line is a copy of the message|original message (follows|as received"
    r"|details|headers)|-+ ?original message ?-+|(this|here) is a copy of the (original )?message"
    r"|the header of the original message|unsent message below|message removed"
    r"|included is a copy of the message|your message reads|the first \d+ lines"
    r"|the header and top|(message|original) headers? follows?|header of the source mail"
    r"|a copy of the original message|mensaje original|\[message content removed"
    r"|message headers follow|-+ ?error detail \(phquery)|^\W*(returned mail|message text)( follows)?\W*$"
    r"|^(received|return-path|dkim-signature|message-id):", re.IGNORECASE)
_BOUNCE_TEXT = re.compile(
    r"(could|can)( ?not|n't) be (delivered|reached|sent)|(was|were|is) not (be )?delivered"
    r"|not be delivered|undeliverable|undelivered|unable to deliver|could not deliver"
    r"|delivery (has )?failed|delivery to the following|permanent (fatal )?error"
    r"|did not reach|qmail-send program|by mail delivery software|message not delivered"
    r"|delivery (failure|problem)|failed to deliver|following address(es)? (had|failed)"
    r"|not yet been delivered|has been postponed|delivery attempts will continue"
    r"|non remis|pas pu (etre|être) d[ée]livr|no pudo ser entregado|nicht zugestellt"
    r"|not deliver|delivery status notification|has been delayed|unknown user:"
    r"|invalid final delivery|recipient name is not recognized|not accepting mail from"
    r"|does not have a final email delivery|did not exactly match|mail system error"
    r"|delivery (is )?delayed|message could not be delivered|delivery failure notification"
    r"|failed recipients|failed addresses|intended recipient|(has been|was) returned"
    r"|no valid recipients|error during delivery|was (automatically )?rejected",
    re.IGNORECASE)
_FAILURE_TEXT = re.compile(
    r"no such user|user unknown|unknown user|quota exceeded|over quota|mailbox (is )?full"
    r"|mailbox unavailable|does not exist|not found", re.IGNORECASE)
_DAEMON = re.compile(r"mailer[-_]?daemon|daemon@|postmaster|mail delivery|delivery subsystem"
                     r"|mail administrator|system administrator", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|deliver(y|ed)? (status|fail|problem|notification|report)"
    r"|failure (notice|delivery)|returned mail|mail delivery|not (be )?delivered"
    r"|delivery (warning|delay)|delayed|non.?delivery|returned to sender|failed mail"
    r"|mail error|mail system error|delivery failure|could not be delivered|user unknown"
    r"|rejected|(mail|message) failed|returning to sender", re.IGNORECASE)
_DELAY = re.compile(
    r"will (continue to |keep )(try|retry|attempt)|will (try|retry|attempt) (to deliver|again"
    r"|delivery|for)|delivery attempts will continue"
    r"|still (trying|being (re)?tried)|not yet been delivered|has been postponed"
    r"|this is (just |only )?a warning|warning message only|no action is required"
    r"|will be retried|(has been|is) delayed|delivery (is )?delayed"
    r"|attempts will continue|retry (until|for)", re.IGNORECASE)
_PERMANENT = re.compile(r"permanent (fatal )?error|not going to try again|i've given up"
                        r"|will not (be )?(retried|try)|giving up|gave up", re.IGNORECASE)
_FOLLOWING = re.compile(r"follow|recipient|address|deliver", re.IGNORECASE)
_BARE_LOCAL = re.compile(r"^\s+([A-Za-z0-9][A-Za-z0-9._+-]*)(?:\s*$|\s{2,}(\S.*)$)")
_DIAGNOSTIC_LEAD = re.compile(r"(?i)technical details|reason|error|said|failure|(?<!\d)[245]\d\d\b")
_PAIRED = re.compile(r"(?<![\d.])([245]\d\d)[\s-]+(?:#?)([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_CODE = re.compile(r"(?:^|(?<=[\s:(\[]))([245]\d\d)(?=[\s-]|$)")
_STATUS = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")
_HEADER_ADDRESSES = ("from", "to", "cc", "sender", "reply-to", "return-path", "delivered-to",
                     "envelope-to", "errors-to", "resent-from", "resent-to", "resent-sender",
                     "x-envelope-to", "x-mailfrom")


def scan(texts: list[str], header: list[tuple[str, bytes]]) -> Findings:
    """Read the notice's own `texts` (its text parts, decoded) given its `header` fields."""
    fields = [(name, mime.decode_words(value)) for name, value in header]
    section = "\n".join(_cut(t) for t in texts)
    flat = " ".join(section.split())
    failed = [a for n, v in fields if n == "x-failed-recipients" for a in addresses_in(v)]
    subject = next((v for n, v in fields if n == "subject"), "")
    sender = next((v for n, v in fields if n == "from"), "")
    daemon = bool(_DAEMON.search(sender))
    is_bounce = bool(failed or _BOUNCE_TEXT.search(flat)
                     or ((daemon or _BOUNCE_SUBJECT.search(subject))
                         and (_FAILURE_TEXT.search(flat) or _BOUNCE_SUBJECT.search(subject))))
    delayed = bool(_DELAY.search(flat) or re.search(r"\bdelay", subject, re.IGNORECASE))
    delayed = delayed and not _PERMANENT.search(flat)
    recipients: tuple[TextRecipient, ...] = ()
    if is_bounce or daemon:
        own = {a.lower() for n, v in fields if n in _HEADER_ADDRESSES for a in addresses_in(v)}
        recipients = _recipients(section, own - {a.lower() for a in failed}, failed, sender)
        is_bounce = is_bounce or bool(recipients)
    return Findings(is_bounce, delayed, recipients, flat[:1000])


def addresses_in(text: str) -> list[str]:
    """The addresses written in `text`, in order ("SMTP=" and similar prefixes removed)."""
    found = []
    for match in _ADDRESS.finditer(text):
        local, _, domain = match.group(0).rpartition("@")
        local = _PREFIX.sub("", local.lstrip(".'=")).rstrip(".")
        if local:
            found.append(f"{local}@{domain}")
    return found


def html_text(text: str) -> str:
    """HTML reduced to its text: line breaks for <br> and block ends, tags gone."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", "", text)
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|tr|li|h\d)\s*>", "\n", text)
    text = re.sub(r"<[^>]*>", "", text)
    return html.unescape(text).replace("\xa0", " ")


def _cut(text: str) -> str:
    """`text` up to the first line where the returned message starts."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if _CUT.search(line.strip()):
            return "\n".join(lines[:index])
    return "\n".join(lines)


@dataclass
class _Candidate:
    address: str
    secondary: bool
    diagnostics: list[str]


def _recipients(section: str, own: set[str], failed: list[str],
                sender: str) -> tuple[TextRecipient, ...]:
    lines = section.splitlines()
    found: dict[str, _Candidate] = {}
    for address in failed:
        found.setdefault(address.lower(), _Candidate(address, False, []))
    consumed: set[int] = set()  # lines read as the diagnostic of an address listed before
    for index, line in enumerate(lines):
        for address in _line_addresses(line, own):
            if index in consumed and address.lower() not in found:
                continue
            secondary = bool(_SECONDARY_LINE.match(line.strip(" \t*>-")))
            candidate = found.setdefault(address.lower(), _Candidate(address, secondary, []))
            candidate.secondary = candidate.secondary and secondary
            text, used = _block(lines, index, address)
            candidate.diagnostics.append(text)
            consumed.update(used)
    chosen = [c for c in found.values() if not c.secondary] or list(found.values())
    if not chosen:
        chosen = _bare_locals(lines, sender)
    return tuple(_recipient(c) for c in chosen)


def _line_addresses(line: str, own: set[str]) -> list[str]:
    stripped = line.strip(" \t*>-")
    if _SKIP_LINE.search(stripped):
        return []
    line = re.sub(r"(?i)mailto:\S+|(?<!generated )(?<!expanded )\bfrom:?\s+<?" + _ADDRESS.pattern, "", line)
    return [a for a in addresses_in(line)
            if a.lower() not in own and not _SERVICE.match(a.rpartition("@")[0])]


def _block(lines: list[str], index: int, address: str) -> tuple[str, range]:
    """The address's line without (the first mention of) the address, and the following
    lines up to a blank line or a line naming another address (at most ten), as one line.
    An address alone on its line takes the next paragraph when that reads as a diagnostic
    (Gmail's "Technical details of permanent failure:"). Also the lines read beyond the
    address's own."""
    pattern = re.compile(rf"(?i)[<\[\"']?(smtp[=:])?{re.escape(address)}[>\]\"']?")
    parts = [pattern.sub(" ", lines[index], count=1)]
    end = _paragraph_end(lines, index + 1, address)
    parts += lines[index + 1:end]
    used = range(0)
    if not _clean(parts):
        start = next((i for i in range(end, min(end + 3, len(lines))) if lines[i].strip()), None)
        if start is not None and _DIAGNOSTIC_LEAD.search(lines[start]):
            stop = min(start + 10, len(lines))
            used = range(start, next((i for i in range(start, stop) if not lines[i].strip()), stop))
            parts = lines[used.start:used.stop]
    return _clean(parts), used


def _paragraph_end(lines: list[str], start: int, address: str) -> int:
    for i in range(start, min(start + 10, len(lines))):
        line = lines[i]
        if not line.strip():
            return i
        others = [a for a in addresses_in(line) if a.lower() != address.lower()]
        if others and not _SKIP_LINE.search(line.strip(" \t*>-")):
            return i
    return min(start + 10, len(lines))


def _clean(parts: list[str]) -> str:
    text = " ".join(" ".join(parts).split()).strip(" :;,.-()[]<>\"'")
    return text if re.search(r"[A-Za-z]{3}", text) else ""


def _recipient(candidate: _Candidate) -> TextRecipient:
    texts = [d for d in candidate.diagnostics if d]
    best = next((d for d in texts if _PAIRED.search(d) or _CODE.search(d)
                 or _STATUS.search(d)), texts[0] if texts else None)
    status = code = None
    if best is not None:
        paired = _PAIRED.search(best)
        if paired:
            code, status = int(paired[1]), paired[2]
        else:
            lone = _CODE.search(best)
            code = int(lone[1]) if lone else None
            lone_status = _STATUS.search(best)
            status = lone_status[1] if lone_status else None
    return TextRecipient(candidate.address, best, status, code)


def _bare_locals(lines: list[str], sender: str) -> list[_Candidate]:
    """Local parts listed without a domain under a "following recipients:" line, completed
    with the domain of the notice's From (its last two labels)."""
    domain = _sender_domain(sender)
    if not domain:
        return []
    out: list[_Candidate] = []
    for index, line in enumerate(lines):
        if not line.rstrip().endswith(":") or not _FOLLOWING.search(
                " ".join(lines[max(index - 1, 0):index + 1])):
            continue
        for follower in lines[index + 1:index + 6]:
            match = _BARE_LOCAL.match(follower)
            if match:
                out.append(_Candidate(f"{match[1]}@{domain}", False, [match[2] or ""]))
            elif follower.strip() and out:
                break
        if out:
            return out
    return out


def _sender_domain(sender: str) -> str:
    addresses = addresses_in(sender)
    if not addresses:
        return ""
    labels = addresses[0].rpartition("@")[2].lower().split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and len(labels[-2]) <= 3 else 2
    return ".".join(labels[-keep:])
