"""Settings of one POP3 server session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    tls_available: bool = True
    """Offer STLS before TLS (the adapter has a certificate)."""
    plaintext_auth: bool = False
    """Allow USER/PASS and AUTH before TLS."""
    max_line: int = 255
    """Longest command line, CRLF included (RFC 2449 section 4)."""
    max_auth_line: int = 8192
    """Longest AUTH command or SASL response line (RFC 2449's 255 is too small for these)."""
    max_failed_logins: int = 3
    """Rejected logins before the core closes the session."""
    implementation: str = "postoffice"
    """The IMPLEMENTATION capability argument; "" to omit it."""
