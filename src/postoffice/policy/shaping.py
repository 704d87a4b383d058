"""Response-driven shaping: what a remote reply asks of the sender.

`classify_reply` maps a remote reply to a `Shaping` by the first
matching row of `SHAPING_RULES` (match by enhanced status code *or* text, case-insensitive;
multi-line replies are joined, repeated codes removed):

| rule | replies | signal |
|---|---|---|
| recipient-rate | 4xx 4.2.1, "receiving mail at a rate" | none: one recipient's limit, not the destination's |
| greylisting | 4xx "greylisted" | none: an ordinary retry |
| idle-timeout | 4xx 4.4.2, "timeout" | none: we were slow, the peer is not overloaded |
| connection-message-limit | 4xx "max messages per connection" | none: reconnect; lower messages per connection |
| permanent-deferral | 4xx "permanently deferred", "will NOT succeed", Yahoo [TS03] | slow down + blocked |
| temporary-block | 4xx "blocked using", "blocklist", "Spamhaus", "banned" | slow down + blocked |
| gmail-unsolicited-rate | 4xx 4.7.28, "unusual rate of unsolicited mail" | slow down |
| gmail-unauthenticated-rate | 4xx 4.7.26, 4.7.27, 4.7.30, 4.7.32 (unauthenticated/unaligned mail) | slow down + blocked |
| microsoft-reputation | 4xx 4.7.500-4.7.699, "rate limited due to IP reputation", "server busy" | slow down |
| yahoo-deferral | 4xx [TSS04], [TS01], [TS02], "temporarily deferred" | slow down |
| too-many-connections | 4xx 4.3.2, "too many connections", "concurrent connections" | slow down |
| rate-limit | 4xx "rate limit", "throttled", "too much mail", "unexpected volume", "try again later" | slow down |
| service-unavailable | any other 421 | slow down |
| permanent-rate-limit | 5xx with rate-limit text | slow down + blocked |
| policy-block | 5xx 5.7.x, "spam", "block list", "banned", "reputation", "policy reasons" | blocked |
| (none) | everything else, including other 4xx and 4.7.x | none |

How the throttle acts on the signal is described in `policy.throttle`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Signal(enum.Flag):
    """What a remote reply asks of us."""

    NONE = 0
    SLOW_DOWN = enum.auto()
    """Back off this destination for this source IP."""
    BLOCKED = enum.auto()
    """A policy or reputation block: report it to reputation monitoring."""


@dataclass(frozen=True, slots=True)
class ShapingRule:
    """One row of the shaping table. Matches when the reply class fits, `code` (if set) is the
    reply code, and `status` matches the enhanced status code or `text` the text (a rule with
    neither matches the whole class)."""

    name: str
    classes: str
    """Reply classes it applies to: "4", "5" or "45"."""
    signal: Signal
    status: str = ""
    """Regular expression for the whole enhanced status code, e.g. r"4\\.7\\.28"."""
    text: str = ""
    """Regular expression searched in the lower-cased, whitespace-collapsed text."""
    code: int | None = None
    example: str = ""
    """A real reply of this kind (documentation and tests)."""

    def matches(self, code: int, status: str, text: str) -> bool:
        if str(code)[0] not in self.classes or (self.code is not None and code != self.code):
            return False
        if not self.status and not self.text:
            return True
        return bool(
            (self.status and status and re.fullmatch(self.status, status))
            or (self.text and re.search(self.text, text))
        )


_SD, _BL, _NO = Signal.SLOW_DOWN, Signal.BLOCKED, Signal.NONE
_RATE_TEXT = (
    r"rate.?limit|throttl|too (many|much) (mail|messages|email)|unexpected volume"
    r"|exceeded .{0,40}limit|try (again )?later|temporarily (deferred|rate limited)"
    r"|server busy|sending too fast|slow down"
)

SHAPING_RULES: tuple[ShapingRule, ...] = (
    ShapingRule(
        "recipient-rate", "4", _NO, status=r"4\.2\.1",
        text=r"receiving mail (at a rate|too quickly)",
        example="450-4.2.1 The user you are trying to contact is receiving mail at a rate that "
        "prevents additional messages from being delivered. Please resend your message at a "
        "later time.",
    ),
    ShapingRule(
        "greylisting", "4", _NO, text=r"gr[ae]y[- ]?list",
        example="450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
    ),
    ShapingRule(
        "idle-timeout", "4", _NO, status=r"4\.4\.2", text=r"time ?out|timed out",
        example="421 4.4.2 mx.example.org Error: timeout exceeded",
    ),
    ShapingRule(
        "connection-message-limit", "4", _NO,
        text=r"(max|maximum|too many)( number of)? (messages?|mails?|transactions) "
        r"(per|for this|in this) (connection|session)",
        example="421 Max message per connection reached, closing transmission channel",
    ),
    ShapingRule(
        "permanent-deferral", "4", _SD | _BL,
        text=r"permanently deferred|will not succeed|\[tss?0?3\]|\[tss09\]",
        example="421 4.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred; "
        "Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
    ),
    ShapingRule(
        "temporary-block", "4", _SD | _BL,
        text=r"blocked using|block ?list|black ?list|spamhaus|banned|listed (at|in|on|by) ",
        example="450 4.7.1 Client host rejected: blocked using zen.spamhaus.org",
    ),
    ShapingRule(
        "gmail-unsolicited-rate", "4", _SD, status=r"4\.7\.28",
        text=r"unusual rate of unsolicited mail",
        example="421-4.7.28 [192.0.2.1 15] Our system has detected an unusual rate of "
        "unsolicited mail originating from your IP address. To protect our users from spam, "
        "mail sent from your IP address has been temporarily rate limited. For more "
        "information, go to https://support.google.com/mail/?p=UnsolicitedRateLimitError",
    ),
    ShapingRule(
        "gmail-unauthenticated-rate", "4", _SD | _BL, status=r"4\.7\.(26|27|30|32)",
        example="421-4.7.26 This mail has been rate limited because it is unauthenticated. "
        "Gmail requires all senders to authenticate with either SPF or DKIM.",
    ),
    ShapingRule(
        "microsoft-reputation", "4", _SD, status=r"4\.7\.[56]\d\d",
        text=r"rate limited due to ip reputation|server busy",
        example="451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due "
        "to IP reputation. For e-mail delivery information, see https://postmaster.live.com "
        "(S775) [Name=Protocol Filter Agent][AGT=PFA]",
    ),
    ShapingRule(
        "yahoo-deferral", "4", _SD, text=r"\[tss?\d\d\]|temporarily deferred",
        example="421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
        "unexpected volume or user complaints - 4.16.55.1; see "
        "https://postmaster.yahooinc.com/error-codes",
    ),
    ShapingRule(
        "too-many-connections", "4", _SD, status=r"4\.3\.2",
        text=r"too many (concurrent |simultaneous |smtp )*(connections|sessions)"
        r"|concurrent (server )?connections|connection (limit|rate)",
        example="421 4.3.2 The maximum number of concurrent server connections has exceeded a "
        "limit, closing transmission channel",
    ),
    ShapingRule(
        "rate-limit", "4", _SD, text=_RATE_TEXT,
        example="421 4.7.0 Try again later, closing connection. (EHLO) For more information, "
        "go to https://support.google.com/a/answer/3221692",
    ),
    ShapingRule(
        "service-unavailable", "4", _SD, code=421,
        example="421 mx.example.org Service not available, closing transmission channel",
    ),
    ShapingRule(
        "permanent-rate-limit", "5", _SD | _BL, text=_RATE_TEXT,
        example="550 5.7.1 Rate limit exceeded, try again later",
    ),
    ShapingRule(
        "policy-block", "5", _BL, status=r"5\.7\.\d{1,3}",
        text=r"spam|block ?list|black ?list|blocked|banned|reputation|policy reasons",
        example="550-5.7.1 [192.0.2.1] Our system has detected that this message is likely "
        "unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been "
        "blocked.",
    ),
)
"""The shaping table, first match wins (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Shaping:
    """What one reply asks of us, and which rule said so ("" when none did)."""

    signal: Signal
    rule: str = ""


NO_SHAPING = Shaping(Signal.NONE)
_LINE_PREFIX = re.compile(r"^\s*\d{3}(?:[ -]|$)")
_STATUS = re.compile(r"(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?![\w.])")


def classify_reply(
    code: int, text: str, status: str = "", rules: tuple[ShapingRule, ...] = SHAPING_RULES
) -> Shaping:
    """The shaping signal of one reply. `text` may be the joined lines of a parsed reply or the
    raw wire text ("421-4.7.28 ...\\r\\n421-4.7.28 ..."); `status` is the enhanced status
    code when already parsed, else it is taken from the start of the text."""
    if code < 400:
        return NO_SHAPING
    lines = [_LINE_PREFIX.sub("", line, count=1) for line in text.splitlines()] or [""]
    if not status:
        first = _STATUS.match(lines[0].lstrip())
        status = first.group(0) if first else ""
    body = " ".join(" ".join(_STATUS.sub(" ", line) for line in lines).lower().split())
    for rule in rules:
        if rule.matches(code, status, body):
            return Shaping(rule.signal, rule.name)
    return NO_SHAPING


