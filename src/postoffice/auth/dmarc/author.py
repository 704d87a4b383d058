"""The RFC5322.From domain a message is judged by (RFC 7489 3.1, 6.6.1): the Author Domain.

DMARC needs exactly one From field holding exactly one mailbox. Anything else is a
:class:`FromProblem`, which callers on the receiving side turn into a rejection (``550 5.7.1``):

* no From field, or several (RFC 5322 3.6 requires exactly one; readers pick different ones);
* several addresses in the field (RFC 7489 6.6.1 allows checking each and taking the strictest
  result; postoffice refuses instead, as large receivers do);
* a value that does not parse as a mailbox, or whose domain is not a domain name (a literal
  ``[192.0.2.1]``, a group, an empty address).

The domain is always the addr-spec's: in ``"paypal.com" <evil@x.example>`` it is ``x.example``.
Values with defects Python's RFC 5322 parser reports as invalid (``a@b.example <c@d.example>``,
a quoted display name followed by a bare address) are unparseable rather than guessed at: those
are the shapes that make mail readers and filters disagree about the author.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import errors
from email.headerregistry import AddressHeader, HeaderRegistry
from enum import StrEnum

from postoffice.auth.orgdomain import normalize_domain
from postoffice.message.fields import fields_named

__all__ = ["AuthorDomain", "FromProblem", "author_domain", "author_domain_of"]

_REGISTRY = HeaderRegistry()


class FromProblem(StrEnum):
    """Why a message has no Author Domain (the caller rejects it)."""

    NO_FROM = "no-from"
    SEVERAL_FROM_FIELDS = "several-from-fields"
    SEVERAL_ADDRESSES = "several-addresses"
    UNPARSEABLE = "unparseable"


@dataclass(frozen=True, slots=True)
class AuthorDomain:
    """The one author of a message."""

    address: str
    """The addr-spec (``evil@x.example``), as written."""
    domain: str
    """Its domain, normalised (lower case, A-labels, no final dot)."""


def author_domain(message: bytes) -> AuthorDomain | FromProblem:
    """The Author Domain of a message (its header section is enough)."""
    fields = fields_named(message, "From")
    if not fields:
        return FromProblem.NO_FROM
    if len(fields) > 1:
        return FromProblem.SEVERAL_FROM_FIELDS
    return author_domain_of(fields[0].value)


def author_domain_of(value: str) -> AuthorDomain | FromProblem:
    """The Author Domain of one From field's value (unfolded)."""
    try:
        parsed = _REGISTRY("From", value)
    except (ValueError, IndexError, TypeError):  # the parser fails on some malformed input
        return FromProblem.UNPARSEABLE
    if not isinstance(parsed, AddressHeader):
        return FromProblem.UNPARSEABLE
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in parsed.defects):
        return FromProblem.UNPARSEABLE
    if any(group.display_name is not None for group in parsed.groups):
        return FromProblem.UNPARSEABLE
    addresses = parsed.addresses
    if len(addresses) > 1:
        return FromProblem.SEVERAL_ADDRESSES
    if not addresses:
        return FromProblem.UNPARSEABLE
    (address,) = addresses
    domain = normalize_domain(address.domain)
    if not address.username or not domain or domain.startswith("[") or ".." in domain:
        return FromProblem.UNPARSEABLE
    return AuthorDomain(address.addr_spec, domain)
