"""What one SMTP listener offers and enforces, as the server core sees it."""

from __future__ import annotations

from dataclasses import dataclass

from postoffice.proto import sasl
from postoffice.proto.smtp.data import BareNewline


@dataclass(frozen=True)
class ServerConfig:
    """Configuration of a `ServerConnection`; one per listener, shared by its sessions."""

    hostname: str
    """Our name, first word of the EHLO/HELO reply."""
    max_message_size: int = 0
    """Largest accepted content in octets, advertised as SIZE; 0 = unlimited."""
    max_recipients: int = 1000
    """RCPTs accepted per transaction; more get 452 4.5.3."""
    max_command_line: int = 2048
    """Longest command line in octets including CRLF; longer ones get 500 5.5.2 and are dropped."""
    max_auth_line: int = 12288
    """Longest AUTH command or SASL response line (RFC 4954 recommends 12288)."""
    max_errors: int = 10
    """Syntax/sequence errors before 421 4.7.0 and disconnect."""
    tls_available: bool = False
    """Offer STARTTLS (while the session is not yet secure)."""
    secure: bool = False
    """The connection starts encrypted (implicit TLS, port 465)."""
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    """SASL mechanisms offered; () disables AUTH."""
    auth_requires_tls: bool = True
    """Before TLS, AUTH is not advertised and answered 538 5.7.11."""
    require_auth: bool = False
    """Submission: MAIL before a successful AUTH gets 530 5.7.0."""
    vrfy_enabled: bool = False
    """When False the core answers VRFY with 252 2.5.2 itself; when True it emits Verify."""
    chunking: bool = True
    """Offer CHUNKING (BDAT, RFC 3030)."""
    smtputf8: bool = True
    """Offer SMTPUTF8 (RFC 6531)."""
    dsn: bool = True
    """Offer DSN (RFC 3461): RET, ENVID, NOTIFY, ORCPT."""
    pipelining: bool = True
    """Advertise PIPELINING (commands are always processed in order either way)."""
    bare_newline: BareNewline = "reject"
    """Bare CR or LF in content: "reject" (550 5.6.11) or "normalize" (to CRLF)."""

    def __post_init__(self) -> None:
        if not self.hostname:
            raise ValueError("hostname is required")
        if self.bare_newline not in ("reject", "normalize"):
            raise ValueError(f"bare_newline must be 'reject' or 'normalize': {self.bare_newline!r}")
        unknown = [m for m in self.auth_mechanisms if m.upper() not in sasl.MECHANISMS]
        if unknown:
            raise ValueError(f"unsupported SASL mechanisms: {unknown}")
        if self.max_message_size < 0 or self.max_recipients < 1 or self.max_errors < 1:
            raise ValueError("limits must be positive (max_message_size may be 0)")
        if self.max_command_line < 512 or self.max_auth_line < 512:
            raise ValueError("line limits below 512 octets break RFC 5321 clients")
