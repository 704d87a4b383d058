"""Where a mailbox login may travel without TLS ([imap]/[pop3] plaintext_auth)."""

from __future__ import annotations

import ipaddress
from typing import Final

PLAINTEXT_AUTH: Final = ("never", "loopback", "always")


def plaintext_login_allowed(setting: str, client_ip: str) -> bool:
    """"always", or "loopback" for a client on 127.0.0.0/8 or ::1; never otherwise."""
    if setting == "always":
        return True
    if setting != "loopback":
        return False
    try:
        return ipaddress.ip_address(client_ip).is_loopback
    except ValueError:
        return False
