"""Trace and submission headers postoffice adds to messages it accepts."""

from __future__ import annotations

import datetime
import email.utils


def rfc5322_date(timestamp: float) -> str:
    """"Mon, 23 Nov 2026 12:00:00 +0000"."""
    return email.utils.format_datetime(datetime.datetime.fromtimestamp(timestamp, datetime.UTC))


def with_protocol(esmtp: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """The `with` keyword of RFC 3848/6531: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPSA..."""
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if utf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def received(
    *,
    helo: str,
    client_ip: str,
    by: str,
    protocol: str,
    queue_id: str,
    timestamp: float,
    recipient: str | None = None,
    tls: str = "",
    auth: str | None = None,
) -> bytes:
    """A Received: field (RFC 5321 4.4) ending in CRLF, folded over lines.

    `recipient` is named only when the message has exactly one, so a copy does not reveal
    the other recipients."""
    literal = f"[IPv6:{client_ip}]" if ":" in client_ip else f"[{client_ip}]"
    comments = [c for c in (f"using {tls}" if tls else "", f"authenticated as {auth}" if auth else "") if c]
    lines = [f"Received: from {_clean(helo) or literal} ({literal})"]
    lines.append(f"\tby {by} (postoffice) with {protocol} id {queue_id}")
    if comments:
        lines.append("\t(" + "; ".join(comments) + ")")
    tail = f"\tfor <{recipient}>;" if recipient else "\t;"
    lines.append(f"{tail} {rfc5322_date(timestamp)}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def message_id(queue_id: str, hostname: str) -> str:
    return f"<{queue_id}@{hostname}>"


def _clean(text: str) -> str:
    """HELO text as a Received token: printable, no spaces or parentheses."""
    return "".join(ch for ch in text if ch.isprintable() and ch not in " ()\\")[:255]
