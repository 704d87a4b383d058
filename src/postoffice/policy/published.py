"""The DNS records a domain of ours publishes, and its MTA-STS policy file.

For each local domain: MX (our MX hosts), SPF (the MX hosts, from which mail leaves unless IP
pools say otherwise, and the pools' addresses), the DKIM keys (made by the keyring, passed in), DMARC
(reports to a mailbox of ours), BIMI (when a logo is configured), MTA-STS (the `_mta-sts` TXT whose id changes whenever the policy
text does, and the `mta-sts.` host that serves the policy), and TLS-RPT. Pure: the caller
supplies the configuration values and the DKIM records."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

MTA_STS_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True)
class Record:
    type: str
    name: str
    value: str


@dataclass(frozen=True)
class Publish:
    """The configured values the records are made from."""

    mx: tuple[str, ...]
    """Our MX host names, most preferred first."""
    sending_addresses: tuple[str, ...] = ()
    """The IP pools' addresses; none: mail leaves from the MX host's address."""
    spf_all: str = "~all"
    dmarc_policy: str = "none"
    report_mailbox: str = ""
    """rua for DMARC and TLS-RPT; empty: postmaster@<domain>."""
    mta_sts_mode: str = "testing"
    mta_sts_max_age: int = 604800
    bimi_logo: str = ""
    """The domain's logo URL for its BIMI record; empty: no BIMI record."""


def spf_record(publish: Publish) -> str:
    terms = ["v=spf1", "mx"]
    for text in dict.fromkeys(publish.sending_addresses):
        address = ipaddress.ip_address(text)
        terms.append(f"ip{address.version}:{address}")
    return " ".join(terms + [publish.spf_all])


def mta_sts_policy(publish: Publish) -> str:
    """The policy file (RFC 8461 3.2), CRLF line endings."""
    lines = ["version: STSv1", f"mode: {publish.mta_sts_mode}"]
    lines += [f"mx: {host}" for host in publish.mx]
    lines.append(f"max_age: {publish.mta_sts_max_age}")
    return "\r\n".join(lines) + "\r\n"


def mta_sts_id(policy: str) -> str:
    """The TXT record's id: derived from the policy text, so it changes exactly when the policy
    does (senders refetch on a new id)."""
    return hashlib.sha256(policy.encode()).hexdigest()[:20]


def records(domain: str, publish: Publish, dkim: Sequence[Record] = ()) -> list[Record]:
    """Every record `domain` should publish, in the order an operator would add them."""
    domain = domain.lower().rstrip(".")
    mailbox = publish.report_mailbox or f"postmaster@{domain}"
    policy = mta_sts_policy(publish)
    out = [Record("MX", domain, f"{10 * (i + 1)} {host}.") for i, host in enumerate(publish.mx)]
    out.append(Record("TXT", domain, spf_record(publish)))
    out += dkim
    out.append(Record("TXT", f"_dmarc.{domain}",
                      f"v=DMARC1; p={publish.dmarc_policy}; rua=mailto:{mailbox}; adkim=r; aspf=r"))
    out.append(Record("TXT", f"_mta-sts.{domain}", f"v=STSv1; id={mta_sts_id(policy)}"))
    out.append(Record("CNAME", f"mta-sts.{domain}", f"{publish.mx[0]}."))
    out.append(Record("TXT", f"_smtp._tls.{domain}", f"v=TLSRPTv1; rua=mailto:{mailbox}"))
    if publish.bimi_logo:
        # The URL was checked when the configuration was read (auth.bimi.bimi_record).
        out.append(Record("TXT", f"default._bimi.{domain}", f"v=BIMI1; l={publish.bimi_logo};"))
    return out
