"""Settings of one ManageSieve server session."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.proto.managesieve.scripts import EXTENSIONS, MAX_REDIRECTS


@dataclass(frozen=True)
class ServerConfig:
    tls_available: bool = True
    """Offer STARTTLS before TLS (the adapter has a certificate)."""
    plaintext_auth: bool = False
    """Allow AUTHENTICATE before TLS."""
    max_line: int = 8192
    """Longest command line, literals excluded, CRLF included."""
    max_auth_literal: int = 8192
    """Literal octets one command may send before authentication (more ends the session)."""
    max_script_size: int = 64 * 1024
    """Largest script in octets (NO (QUOTA/MAXSIZE) beyond)."""
    max_scripts: int = 20
    """Scripts one user may keep (NO (QUOTA/MAXSCRIPTS) beyond)."""
    max_name: int = 128
    """Longest script name in octets."""
    max_failed_logins: int = 3
    """Rejected logins before the core says BYE."""
    implementation: str = "postoffice"
    """The IMPLEMENTATION capability."""
    extensions: tuple[str, ...] = EXTENSIONS
    """The SIEVE capability: what scripts may `require`."""
    max_redirects: int = MAX_REDIRECTS
    """The MAXREDIRECTS capability."""
