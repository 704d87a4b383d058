"""Organizational Domains (RFC 7489 3.2) from the Public Suffix List.

The Organizational Domain of a name is its public suffix plus one label: ``a.b.example.co.uk``
belongs to ``example.co.uk``. The list is the one bundled with the ``publicsuffixlist`` package
(ICANN and private sections, as RFC 7489 asks; no network), read once on first use. A name whose
suffix the list does not know has a one-label suffix (the PSL's ``*`` rule). A name that is itself
a public suffix, or is malformed, is its own Organizational Domain.

DMARCbis replaces the list with a DNS tree walk (``_dmarc`` records with ``psd=``); postoffice
follows RFC 7489 until that is published.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

__all__ = ["normalize_domain", "organizational_domain"]


def normalize_domain(domain: str) -> str:
    """Lower case, without leading or trailing dots, U-labels as A-labels (``""`` stays ``""``)."""
    domain = domain.strip().strip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # left as it is: it will match nothing published in the DNS
    return domain


def organizational_domain(domain: str) -> str:
    """The Organizational Domain of ``domain`` (normalised first)."""
    domain = normalize_domain(domain)
    if not domain or "" in domain.split("."):
        return domain
    return _public_suffix_list().privatesuffix(domain) or domain


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()
