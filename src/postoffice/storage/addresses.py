"""How storage spells domains and addresses (every backend stores and looks up these forms).

- A domain is lower-case ASCII without a trailing dot; a non-ASCII name is converted to its
  A-label with the stdlib "idna" codec (IDNA 2003 mapping; callers wanting IDNA 2008 convert
  before calling).
- An address is lower-cased as a whole, local part included: mailboxes are case-insensitive
  here (RFC 5321 allows it, every common server does it, and "Bob@" and "bob@" being different
  users only invites confusion). The domain part is normalised as above.
"""

from __future__ import annotations


def normalize_domain(name: str) -> str:
    """Raises ValueError for an empty or unencodable name."""
    name = name.strip().rstrip(".").lower()
    if not name:
        raise ValueError("empty domain name")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid domain name {name!r}: {exc}") from None
    return name


def normalize_address(address: str) -> str:
    """local@domain, lower-cased; raises ValueError without a local part and domain."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        raise ValueError(f"not a mailbox address: {address!r}")
    return f"{local.lower()}@{normalize_domain(domain)}"


def domain_of(address: str) -> str:
    """The domain part of a normalised address."""
    return address.rpartition("@")[2]


def normalize_sender(entry: str) -> str:
    """An allowed-sender entry: a full address or "@domain" for a whole domain."""
    if entry.strip().startswith("@"):
        return "@" + normalize_domain(entry.strip()[1:])
    return normalize_address(entry)
