"""What the pipeline knows about the SMTP session a message arrives in."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from postoffice.message.envelope import Recipient
from postoffice.policy.unsubscribe import UnsubscribeToken
from postoffice.policy.verp import VerpToken

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class SessionInfo:
    """Filled in by the server adapter as the session goes on."""

    listener: str
    """"smtp" (MX), "submission" or "submissions"."""
    client_ip: str
    client_port: int
    helo: str = ""
    esmtp: bool = False
    tls: str = ""
    """"TLSv1.3 TLS_AES_256_GCM_SHA384" once TLS is up, else ""."""
    auth_identity: str | None = None
    trusted: bool = False
    """The client is in `[relay] trusted_networks`: it may relay without AUTH."""
    client_checks: asyncio.Task[Any] | None = None
    """The client's reverse DNS and blocklist lookups, started at connect (MX from outside)."""

    @property
    def may_relay(self) -> bool:
        return self.auth_identity is not None or self.trusted


@dataclass
class Transaction:
    """One MAIL..DATA transaction: the envelope as it is accepted, piece by piece."""

    mail_from: str
    params: dict[str, str | None] = field(default_factory=dict)
    local: list[str] = field(default_factory=list)
    """Accepted local recipients (mailbox addresses)."""
    relay: list[Recipient] = field(default_factory=list)
    """Accepted remote recipients, for the outbound queue."""
    bounces: list[VerpToken] = field(default_factory=list)
    """What the accepted VERP return paths name (the bounce mailbox is in `local`)."""
    forwards: dict[str, list[Recipient]] = field(default_factory=dict)
    """Remote targets of aliases (and reversed SRS addresses), by the forwarding domain: each
    domain's copy is stored apart, with an SRS sender in that domain and an ARC seal."""
    feedback: bool = False
    """A recipient is the complaints address (`[feedback] complaints_address`)."""
    unsubscribes: list[UnsubscribeToken] = field(default_factory=list)
    """What the accepted unsubscribe addresses name: the mail unsubscribes them."""
    spf: asyncio.Task[Any] | None = None
    """The SPF check started at MAIL FROM (MX mail from the outside), awaited at end of DATA."""

    @property
    def recipient_count(self) -> int:
        return len(self.local) + len(self.relay) + sum(map(len, self.forwards.values()))


def from_outside(session: SessionInfo, skip: Sequence[IPNetwork]) -> bool:
    """A client the MX checks (and greylists): on the MX listener, neither authenticated nor
    trusted, not in `[inbound] skip_networks` (`skip`)."""
    if session.listener != "smtp" or session.may_relay:
        return False
    try:
        address = ipaddress.ip_address(session.client_ip)
    except ValueError:
        return True
    return not any(address in network for network in skip)
