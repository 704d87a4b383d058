"""Which identities an authenticated user may send as (MAIL FROM and the From header)."""

from __future__ import annotations

from collections.abc import Iterable


def may_send_as(
    login: str,
    address: str,
    allowed: Iterable[str],
    *,
    domain_senders: bool,
) -> bool:
    """True if `login` may use `address`: their own, one listed in `allowed` (full address or
    "@domain"), or any address of their domain when `domain_senders` is on. Case-insensitive."""
    address = address.lower()
    login = login.lower()
    if address == login:
        return True
    domain = "@" + address.rpartition("@")[2]
    if domain_senders and domain == "@" + login.rpartition("@")[2]:
        return True
    return any(a.lower() in (address, domain) for a in allowed)
