"""Domain names as SPF checks them: the checked domain (RFC 7208 4.3) and expanded target names."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 253
"""Longest domain name in text form (without the final dot)."""
MAX_LABEL_LENGTH = 63
_DOMAIN = re.compile(r"[\x21-\x2d\x2f-\x5a\x5c-\x7e][\x21-\x2d\x2f-\x7e]{0,62}"
                     r"(?:\.[\x21-\x2d\x2f-\x7e]{1,63})+")


def ascii_domain(domain: str) -> str | None:
    """``domain`` without a final dot, non-ASCII names in their A-label (IDNA) form; None when
    it cannot be written in ASCII."""
    domain = domain[:-1] if domain.endswith(".") else domain
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def checkable_domain(domain: str) -> str | None:
    """Why ``domain`` cannot be checked (the result is then "none", RFC 7208 4.3), or None.

    A checkable domain has at least two labels, each 1 to 63 visible ASCII characters, is at
    most 253 characters long, is not an address literal (``[192.0.2.1]``), and its last label is
    not all digits (an IP address is not a domain)."""
    if len(domain) <= MAX_NAME_LENGTH and _DOMAIN.fullmatch(domain):
        if not domain.rpartition(".")[2].isdigit():
            return None
        return f"{domain!r} ends in a numeric label (an IP address is not a domain)"
    if domain.startswith("["):
        return f"{domain!r} is an address literal, not a domain"
    if len(domain) > MAX_NAME_LENGTH:
        return f"{domain[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    if "." not in domain:
        return f"{domain!r} is not a multi-label domain name"
    return f"{domain!r} has an empty label, one over {MAX_LABEL_LENGTH} characters, or spaces"


def target_name(expanded: str) -> str | None:
    """The name to look up for an expanded domain spec, or None when it is not a valid DNS name
    (empty or over-long labels, non-ASCII): such a term matches nothing.

    Names longer than 253 characters lose labels on the left until they fit (RFC 7208 7.3)."""
    name = expanded[:-1] if expanded.endswith(".") else expanded
    while len(name) > MAX_NAME_LENGTH and "." in name:
        name = name.partition(".")[2]
    if not name or len(name) > MAX_NAME_LENGTH or not name.isascii():
        return None
    if any(not label or len(label) > MAX_LABEL_LENGTH for label in name.split(".")):
        return None
    return name
