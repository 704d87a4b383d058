"""Configuration of the SMTP client core (see client.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TlsMode = Literal["none", "opportunistic", "required", "verify"]
"""none: never STARTTLS; opportunistic: when offered; required/verify: fail without it
("verify" also checks the certificate, which is the adapter's business)."""


@dataclass(frozen=True)
class ClientConfig:
    """How one client session behaves."""

    helo_name: str
    """Our name for EHLO/HELO."""
    tls: TlsMode = "opportunistic"
    auth: tuple[str, str] | None = field(default=None, repr=False)
    """(username, password) for AUTH (smarthosts); None: no AUTH."""
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    """Mechanisms we may use, in order of preference."""
    auth_requires_tls: bool = True
    """Never send a password before TLS is up (the session fails with 4.7.10 instead)."""
    pipelining: bool = True
    """Use PIPELINING when offered."""
    chunking: bool = True
    """Use BDAT when CHUNKING is offered (otherwise DATA)."""
    bdat_window: int = 8
    """BDAT chunks in flight with PIPELINING (1 without it)."""
    max_reply_line: int = 4096
    max_reply_lines: int = 256

    def __post_init__(self) -> None:
        if not self.helo_name or any(c.isspace() for c in self.helo_name):
            raise ValueError(f"bad helo_name {self.helo_name!r}")
        if self.tls not in ("none", "opportunistic", "required", "verify"):
            raise ValueError(f"bad tls mode {self.tls!r}")
        unknown = [m for m in self.auth_mechanisms if m.upper() not in ("PLAIN", "LOGIN")]
        if unknown or self.bdat_window < 1:
            raise ValueError(f"unsupported SASL mechanisms {unknown} or bdat_window < 1")
