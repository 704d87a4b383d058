"""Who may receive through which door: the anti-relay rules of the MX and submission listeners."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Route(enum.Enum):
    LOCAL = "local"
    """A mailbox on this server."""
    RELAY = "relay"
    """Queued for outbound delivery."""
    FORWARD = "forward"
    """An alias of ours, or an SRS address of ours: expands to its targets, which may be remote."""
    BOUNCE = "bounce"
    """A VERP return path of ours: a bounce, filed in the bounce mailbox."""
    UNSUBSCRIBE = "unsubscribe"
    """An unsubscribe address of ours whose token verifies: the mail unsubscribes, and is
    not stored."""
    REFUSE = "refuse"


@dataclass(frozen=True)
class RecipientDecision:
    route: Route
    code: int = 250
    status: str = "2.1.5"
    text: str = "Recipient OK"


RELAY_DENIED = RecipientDecision(Route.REFUSE, 554, "5.7.1", "Relay access denied")


def split_address(address: str) -> tuple[str, str]:
    """(local part, lower-case domain); the domain is "" when missing."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return address, ""
    return local, domain.lower().rstrip(".")


def routing_tricks(local: str) -> bool:
    """Percent-hack ("user%other@us"), bang paths ("other!user@us") or a quoted "@"."""
    return any(ch in local for ch in "%!@")


def decide_recipient(
    address: str,
    *,
    source_route: bool,
    local_domain: bool,
    local_user: bool,
    may_relay: bool,
    return_path: bool = False,
    forward: bool = False,
    unsubscribe: bool = False,
) -> RecipientDecision:
    """The reply to RCPT TO, given what the store says about the address.

    Sessions that may not relay (the MX, for strangers) take mail only for existing local
    mailboxes and refuse anything that looks like a relay request, including percent-hack and
    source-route forms. Sessions that may relay (authenticated submission, or a client in
    `[relay] trusted_networks`) may send anywhere; local recipients are delivered directly.
    `return_path`: the address is a VERP return path whose token verifies (no such user exists,
    yet it takes mail in a local domain). `forward`: the address is an alias in a local domain,
    or an SRS address of ours whose hash verifies; its targets are the only remote addresses the
    MX relays to (forwarding), and only the store's alias table or a verified SRS hash names
    them: the checks above still refuse every other relay request. `unsubscribe`: the address
    is `unsubscribe+<token>` in a local domain and the token verifies."""
    local, domain = split_address(address)
    if not domain or not local:
        return RecipientDecision(Route.REFUSE, 501, "5.1.3", "Bad recipient address syntax")
    if not may_relay and (source_route or routing_tricks(local) or not local_domain):
        return RELAY_DENIED
    if local_domain:
        if local_user:
            return RecipientDecision(Route.LOCAL)
        if forward:
            return RecipientDecision(Route.FORWARD)
        if return_path:
            return RecipientDecision(Route.BOUNCE)
        if unsubscribe:
            return RecipientDecision(Route.UNSUBSCRIBE)
        return RecipientDecision(Route.REFUSE, 550, "5.1.1", "No such user here")
    return RecipientDecision(Route.RELAY)
