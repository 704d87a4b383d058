"""Why a delivery failed: a reason class and whether the address itself is bad.

`classify_reply` reads an SMTP reply (code, RFC 3463 enhanced status, text), at delivery time
or from a bounce. A specific enhanced status code decides; a generic one (X.0.0, X.2.0, X.5.x,
X.7.1, ...) lets the text refine it, by the well-known phrases of the big providers; then the
status's subject, then the reply code; else `other`.

Reason classes (`Reason`):

| reason | covers |
|---|---|
| user_unknown | the mailbox does not exist: X.1.1, X.1.3, X.1.6, "user unknown", "no such user", "does not exist", Microsoft "mailbox unavailable" |
| mailbox_disabled | the mailbox exists but is disabled, suspended or closed: X.2.1, X.7.13 |
| mailbox_full | over quota, mailbox or mail system full: X.2.2, X.3.1 |
| message_too_big | the message exceeds a size limit: X.2.3, X.3.4 |
| host_unknown | the recipient's domain does not exist or takes no mail: X.1.2, X.1.10, 5.4.4, "host not found" |
| network | no connection, timeouts, DNS or routing trouble: X.4.0-X.4.6, X.3.2 |
| expired | the sender's queue gave up after retrying too long: X.4.7 |
| rate_limit | too much mail or too fast, deferrals, greylisting, "try again later": X.4.5, X.7.28 |
| policy_block | refused by the receiver's policy (relaying denied, sender refused): X.7.x not below |
| spam_block | refused as spam or for reputation: blocklists (Spamhaus, ...), "unsolicited", "spam" |
| auth_failure | SPF, DKIM, DMARC, reverse DNS or credential checks failed: X.7.8, X.7.20-X.7.26 |
| content_rejected | the content was refused: viruses, forbidden attachments, media errors: X.6.x |
| other | anything else |

`hard` is true only for a permanent failure (5.x.x status, else a 5xx reply) whose reason says
the address itself is bad: user_unknown, mailbox_disabled, host_unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from postoffice.message.reports import Complaint, ReportedFailure, ReportKind, read_report


class Reason(StrEnum):
    """Why a delivery failed (see the module's table)."""

    USER_UNKNOWN = "user_unknown"
    MAILBOX_DISABLED = "mailbox_disabled"
    MAILBOX_FULL = "mailbox_full"
    MESSAGE_TOO_BIG = "message_too_big"
    HOST_UNKNOWN = "host_unknown"
    NETWORK = "network"
    EXPIRED = "expired"
    RATE_LIMIT = "rate_limit"
    POLICY_BLOCK = "policy_block"
    SPAM_BLOCK = "spam_block"
    AUTH_FAILURE = "auth_failure"
    CONTENT_REJECTED = "content_rejected"
    OTHER = "other"


HARD_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.MAILBOX_DISABLED, Reason.HOST_UNKNOWN})

R = Reason
# subject.detail -> reason, for codes specific enough to decide alone.
_DECISIVE: dict[str, Reason] = {
    "1.1": R.USER_UNKNOWN, "1.3": R.USER_UNKNOWN, "1.4": R.USER_UNKNOWN,
    "1.6": R.USER_UNKNOWN, "1.2": R.HOST_UNKNOWN, "1.10": R.HOST_UNKNOWN,
    "1.7": R.POLICY_BLOCK, "1.8": R.POLICY_BLOCK,
    "2.1": R.MAILBOX_DISABLED, "2.2": R.MAILBOX_FULL, "2.3": R.MESSAGE_TOO_BIG,
    "3.1": R.MAILBOX_FULL, "3.2": R.NETWORK, "3.4": R.MESSAGE_TOO_BIG,
    "4.1": R.NETWORK, "4.2": R.NETWORK, "4.3": R.NETWORK, "4.5": R.RATE_LIMIT,
    "4.6": R.NETWORK, "4.7": R.EXPIRED,
    "5.3": R.RATE_LIMIT,
    "6.1": R.CONTENT_REJECTED, "6.2": R.CONTENT_REJECTED, "6.3": R.CONTENT_REJECTED,
    "6.4": R.CONTENT_REJECTED, "6.5": R.CONTENT_REJECTED,
    "7.2": R.POLICY_BLOCK, "7.3": R.POLICY_BLOCK, "7.4": R.POLICY_BLOCK,
    "7.5": R.AUTH_FAILURE, "7.7": R.CONTENT_REJECTED, "7.8": R.AUTH_FAILURE,
    "7.9": R.AUTH_FAILURE, "7.13": R.MAILBOX_DISABLED, "7.17": R.USER_UNKNOWN,
    "7.18": R.HOST_UNKNOWN, "7.20": R.AUTH_FAILURE, "7.21": R.AUTH_FAILURE,
    "7.22": R.AUTH_FAILURE, "7.23": R.AUTH_FAILURE, "7.24": R.AUTH_FAILURE,
    "7.25": R.AUTH_FAILURE, "7.26": R.AUTH_FAILURE, "7.27": R.POLICY_BLOCK,
    "7.28": R.RATE_LIMIT, "7.29": R.AUTH_FAILURE,
}
# Fallbacks by subject when neither the detail nor the text says more.
_SUBJECT: dict[str, Reason] = {
    "1": R.USER_UNKNOWN, "4": R.NETWORK, "6": R.CONTENT_REJECTED, "7": R.POLICY_BLOCK,
}
_REPLY: dict[int, Reason] = {
    421: R.NETWORK, 452: R.MAILBOX_FULL, 521: R.HOST_UNKNOWN, 530: R.AUTH_FAILURE,
    535: R.AUTH_FAILURE, 551: R.USER_UNKNOWN, 552: R.MAILBOX_FULL, 553: R.USER_UNKNOWN,
    556: R.HOST_UNKNOWN, 571: R.POLICY_BLOCK,
}

# (reason, phrases): the first row with a matching phrase wins, so the order matters.
_PHRASES: tuple[tuple[Reason, str], ...] = (
    (R.MAILBOX_FULL,
     r"over ?quota|quota (exceeded|violation)|exceed\w* (\w+ )?(storage|quota|disk)"
     r"|mailbox (is |was )?full|mailbox size limit|mail ?(box|folder) (is )?full|full mailbox"
     r"|(disk|storage|mailbox) quota|insufficient (system )?storage|too much mail stored"
     r"|out of (disk )?(space|storage)|storage (allocation|limit)|would exceed.{0,20}quota"
     r"|not (have )?enough (storage|space|disk)|overdrawn .{0,20}quota"),
    (R.MESSAGE_TOO_BIG,
     r"message (size|length) exceeds|message (is )?too (big|large)|exceeds? .{0,30}size limit"
     r"|size limit|exceeds? (the )?(maximum|max|fixed).{0,20}size|message size|too large"),
    (R.MAILBOX_DISABLED,
     r"(account|mailbox|address|user)\S* (has been |is |was )?(disabled|deactivated|suspended"
     r"|inactive|closed|locked|frozen|expired|not active|no longer active)|discontinued"
     r"|inactive (user|account|mailbox)|disabled (user|account|mailbox)"),
    (R.HOST_UNKNOWN,
     r"host (or domain name )?(not found|unknown)|unknown host|no such (domain|host)"
     r"|domain (name )?(not found|does not exist|doesn't exist|unknown|is not valid)"
     r"|unrouteable mail domain|unknown domain|non-?existent ?domain|nxdomain"
     r"|no (mx|mail exchanger|valid mx)|bad destination system|does not accept mail"),
    (R.USER_UNKNOWN,
     r"(user|recipient|addressee|mailbox|address|account) (is )?(unknown|not found|not known"
     r"|invalid|not exist)|unknown (user|recipient|mailbox|local.?part|address|alias)"
     r"|no such (user|mailbox|recipient|address|person|account|local user)"
     r"|(does not|doesn't|did not) exist|not a valid (user|mailbox|recipient|address)"
     r"|invalid (recipient|mailbox|address|user|final delivery)|no mailbox|mailbox unavailable"
     r"|(doesn't|does not) have an? .{0,30}account|recipient name is not recognized"
     r"|not our customer|unrouteable address|undeliverable address|no longer (valid|in use)"
     r"|bad destination mailbox|recipnotfound|recipient ?not ?found|no final email delivery"
     r"|does not have a final email delivery|no matches to nameserver|not listed in"
     r"|isn't a valid|is not a valid|user not local|mailbox not found|no valid recipients"
     r"|non-?existent (user|mailbox|recipient|address|account)|n'existe pas"),
    (R.AUTH_FAILURE,
     r"\b(spf|dkim|dmarc)\b|authenticat\w* (failed|failure|required)|unauthenticated"
     r"|reverse (dns|lookup)|\bptr\b|\brdns\b|sender verif\w* failed"),
    (R.SPAM_BLOCK,
     r"spamhaus|spamcop|sorbs|barracuda|\bspam|junk|unsolicited|black ?list|block ?list"
     r"|\bdnsbl|\brbl\b|reputation|listed (at|in|on|by)|bulk mail"),
    (R.RATE_LIMIT,
     r"rate.?limit|throttl|too many (connections|messages|recipients|concurrent|e?mails"
     r"|sessions|requests|errors)|too much mail|try (again )?later|temporarily deferred"
     r"|greylist|graylist|unusual rate|slow down|frequency limit|deferred"),
    (R.EXPIRED,
     r"in the queue too long|queue too long|retry time(out)? (exceeded|not reached|expired)"
     r"|(message|delivery) (has )?expired|could not be delivered within|not delivered within"
     r"|allowed queue period|time limit exceeded"),
    (R.NETWORK,
     r"connection (refused|timed out|reset|lost|dropped|failed|closed)|timed? ?out"
     r"|could not connect|unable to connect|establish an? smtp connection|no route to host"
     r"|(network|host) (is )?unreachable|not reachable|mail exchanger failed|not responding"
     r"|server (unavailable|busy)|temporary (server )?(error|failure)|dns (error|failure)"
     r"|routing loop|too many hops|mail loop|loops? back|looping"),
    (R.CONTENT_REJECTED,
     r"virus|malware|attachment|content (rejected|filter)|message content|executable"
     r"|prohibited (file|content)|banned (file|content)"),
    (R.POLICY_BLOCK,
     r"blocked|denied|refused|\bpolicy\b|not (allowed|permitted|authori[sz]ed)|relay"
     r"|prohibited|administrative|not accepting mail|banned|rejected"),
)
_COMPILED = tuple((reason, re.compile(text)) for reason, text in _PHRASES)
_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
_LEADING_CODE = re.compile(r"\s*([245]\d\d)(?![\d.])")
_QUOTED_STATUS = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?![\d.])")


def classify_text(text: str) -> Reason | None:
    """The reason the first matching phrase of `text` names, or None."""
    folded = " ".join(text.lower().split())
    for reason, pattern in _COMPILED:
        if pattern.search(folded):
            return reason
    return None


def _status_reason(status: str) -> tuple[Reason | None, bool]:
    """(reason, decisive) for an enhanced status code; (None, False) when it says nothing."""
    m = _STATUS.fullmatch(status.strip())
    if not m:
        return None, False
    klass, subject, detail = m.groups()
    key = f"{subject}.{detail}"
    if key == "4.4":
        return (R.HOST_UNKNOWN if klass == "5" else R.NETWORK), True
    if key in _DECISIVE:
        return _DECISIVE[key], True
    return _SUBJECT.get(subject), False


def classify_reply(code: int | None, status: str | None, text: str) -> tuple[Reason, bool]:
    """(reason, hard) for a failed delivery: reply `code` (e.g. 550, None when unknown),
    enhanced `status` ("5.1.1" or None) and the reply or diagnostic `text`."""
    by_status, decisive = _status_reason(status) if status else (None, False)
    reason = by_status if decisive else None
    if reason is None:
        reason = classify_text(text) or by_status or (_REPLY.get(code) if code else None)
    reason = reason or R.OTHER
    return reason, reason in HARD_REASONS and is_permanent(code, status)


def classify_failure(status: str | None, text: str) -> tuple[Reason, bool]:
    """`classify_reply` for a delivery failure as the delivery engine words it: `text` is
    "550 5.1.1 No such user" (the reply) or "4.4.1 no host could be reached" (no reply)."""
    code = _LEADING_CODE.match(text)
    return classify_reply(int(code[1]) if code else None, status or None, text)


def is_permanent(code: int | None, status: str | None, default: bool = True) -> bool:
    """Whether a failure is permanent: the status's class, else the reply code's, else
    `default`."""
    if status and _STATUS.fullmatch(status.strip()):
        return status.strip()[0] == "5"
    if code:
        return 500 <= code < 600
    return default


# -- whole messages ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassifiedRecipient:
    """One recipient of a bounce, delay notice or complaint, with its reason class."""

    address: str
    status: str | None
    """RFC 3463 enhanced status code ("5.1.1") or None."""
    reply_code: int | None
    """SMTP reply code (550) or None."""
    diagnostic: str | None
    """The diagnostic text, one line, or None."""
    reason: Reason
    hard: bool
    """The address itself is bad (permanent user_unknown, mailbox_disabled, host_unknown)."""
    action: str
    """"failed", "delayed" or "complained"."""
    remote_mta: str | None = None
    """The server that gave the diagnostic (DSN Remote-MTA)."""


@dataclass(frozen=True)
class Feedback:
    """A received message classified: what it is and, per recipient, why delivery failed."""

    kind: ReportKind
    recipients: tuple[ClassifiedRecipient, ...]
    complaint: Complaint | None
    """The ARF fields of a complaint (feedback type, Original-Mail-From, Source-IP, ...)."""
    source: str
    """How it was recognised: "arf", "dsn", "text", "header" or ""."""


def classify_message(raw: bytes) -> Feedback:
    """Classify one message (any line ends) and every recipient it reports."""
    report = read_report(raw)
    recipients = tuple(_classified(r) for r in report.recipients)
    return Feedback(report.kind, recipients, report.complaint, report.source)


def _classified(failure: ReportedFailure) -> ClassifiedRecipient:
    if failure.action == "complained":
        reason, hard = Reason.OTHER, False
    else:
        text = failure.diagnostic or ""
        reason, _ = classify_reply(failure.reply_code, _specific_status(failure), text)
        if reason is Reason.OTHER and failure.context:
            reason = classify_text(failure.context) or reason
        permanent = is_permanent(failure.reply_code, failure.status,
                                 default=failure.action == "failed")
        hard = reason in HARD_REASONS and permanent and failure.action == "failed"
    return ClassifiedRecipient(failure.address, failure.status, failure.reply_code,
                               failure.diagnostic, reason, hard, failure.action,
                               failure.remote_mta)


def _specific_status(failure: ReportedFailure) -> str | None:
    """The status, or the more specific one the diagnostic quotes when it is X.0.0."""
    status = failure.status
    if (status is None or status.endswith(".0.0")) and failure.diagnostic:
        quoted = _QUOTED_STATUS.search(failure.diagnostic)
        if quoted and (status is None or quoted[1][0] == status[0]):
            return quoted[1]
    return status
