"""Which way a message leaves: through a smarthost, or straight to the destination's MX hosts.

The operator may relay some sending domains or tenants through smarthosts of their own
(`[smarthosts.NAME]`) and everything else through one global smarthost (`[delivery]
smarthost`). The first that applies wins: the sending domain's smarthost, the tenant's, the
global one; with none, the message goes to the MX hosts of its destination.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Smarthost:
    """A relay that takes mail for any destination."""

    name: str
    """The `[smarthosts.NAME]` table; "" for `[delivery] smarthost`."""
    host: str
    port: int
    tls: str = "opportunistic"
    """none, opportunistic, required or verify."""
    auth: tuple[str, str] | None = field(default=None, repr=False)
    """(user, password) for AUTH; None for none."""


def _domain(name: str) -> str:
    return name.lower().rstrip(".")


@dataclass(frozen=True)
class Routing:
    """The smarthost assignments."""

    domains: Mapping[str, Smarthost] = field(default_factory=dict)
    """Sending domain -> its smarthost."""
    tenants: Mapping[str, Smarthost] = field(default_factory=dict)
    """Tenant -> its smarthost."""
    fallback: Smarthost | None = None
    """The smarthost of everything else; None: MX delivery."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "domains", {_domain(d): s for d, s in self.domains.items()})

    def smarthost_for(self, tenant: str, sender_domain: str) -> Smarthost | None:
        """Where a message of `tenant` from `sender_domain` is relayed; None: to the MX."""
        domain = _domain(sender_domain)
        if domain in self.domains:
            return self.domains[domain]
        return self.tenants.get(tenant, self.fallback)

    def relays_tenant(self, tenant: str) -> bool:
        """True when every message of `tenant` goes to a smarthost, whatever its sending
        domain: a sending domain's smarthost can only stand in for another smarthost."""
        return self.tenants.get(tenant, self.fallback) is not None
