"""The SMTP envelope of a message, with its DSN parameters (RFC 3461)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipient:
    """One forward path with its DSN parameters."""

    address: str
    notify: tuple[str, ...] = ()
    """NOTIFY values (NEVER, SUCCESS, FAILURE, DELAY); empty when not given."""
    orcpt: str | None = None
    """ORCPT as sent ("rfc822;addr" in xtext), or None."""


@dataclass(frozen=True)
class Envelope:
    """Everything the SMTP transaction says about a message besides its content."""

    mail_from: str
    """Reverse path; "" is the null sender (bounces)."""
    recipients: tuple[Recipient, ...]
    body: str = "7BIT"
    """BODY parameter: 7BIT or 8BITMIME."""
    smtputf8: bool = False
    ret: str | None = None
    """DSN RET: FULL or HDRS."""
    envid: str | None = None
    """DSN ENVID (xtext decoded)."""
    size_hint: int | None = None
    """SIZE declared at MAIL FROM."""
