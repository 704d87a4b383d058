"""The big mailbox providers, recognised by their MX host names.

Many domains share one provider's mail servers: every Google Workspace domain has MX hosts under
``google.com``, every Microsoft 365 domain under ``mail.protection.outlook.com``. Throttling
counts such domains together, as one MX *site*, because the provider does: its limits apply to
what we send to all of them. :func:`mx_site` names the site of a destination from its MX hosts.

The table
---------

========= ====================================== ================================================
site      provider                               MX host names (suffixes)
========= ====================================== ================================================
google    Gmail, Google Workspace                ``google.com``, ``googlemail.com``, ``smtp.goog``
microsoft Outlook.com/Hotmail, Microsoft 365     ``mail.protection.outlook.com``,
                                                 ``olc.protection.outlook.com``
yahoo     Yahoo, AOL                             ``yahoodns.net``
apple     iCloud                                 ``mail.icloud.com``
gmx       GMX, Web.de, mail.com (1&1 Mail&Media) ``gmx.net``, ``web.de``, ``mail.com``
yandex    Yandex                                 ``yandex.net``, ``yandex.ru``
mailru    Mail.ru                                ``mail.ru``
========= ====================================== ================================================

A host matches a suffix when it equals it or ends with ``"." + suffix``. A destination whose
first MX host (lowest preference, then by name) is no provider's is its own site, named by that
host's registrable domain (``mx1.mail.example.co.uk`` → ``example.co.uk``), or, without MX
hosts, by the destination domain's registrable domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PROVIDERS", "Provider", "mx_site", "provider_for_host", "registrable_domain"]


@dataclass(frozen=True)
class Provider:
    """A mailbox provider that many domains' mail goes to."""

    site: str
    """Short key throttling and statistics use (``"google"``)."""
    name: str
    """Human-readable name."""
    mx_suffixes: tuple[str, ...]
    """Domain suffixes of its MX host names."""

    def matches(self, host: str) -> bool:
        """True when ``host`` is one of this provider's MX hosts."""
        host = _norm(host)
        return any(host == s or host.endswith("." + s) for s in self.mx_suffixes)


PROVIDERS: tuple[Provider, ...] = (
    Provider("google", "Gmail / Google Workspace", ("google.com", "googlemail.com", "smtp.goog")),
    Provider(
        "microsoft",
        "Outlook.com / Hotmail / Microsoft 365",
        ("mail.protection.outlook.com", "olc.protection.outlook.com"),
    ),
    Provider("yahoo", "Yahoo / AOL", ("yahoodns.net",)),
    Provider("apple", "iCloud", ("mail.icloud.com",)),
    Provider("gmx", "GMX / Web.de / mail.com", ("gmx.net", "web.de", "mail.com")),
    Provider("yandex", "Yandex", ("yandex.net", "yandex.ru")),
    Provider("mailru", "Mail.ru", ("mail.ru",)),
)
"""The recognised providers (see the module docstring's table)."""

# Second-level labels under which country-code TLDs register names (co.uk, com.au, ne.jp, ...).
# An approximation of the Public Suffix List, good enough to group MX hosts; it errs towards the
# longer name (``foo.co.xx``), which only makes a site narrower, never merges two owners.
_SECOND_LEVEL = frozenset(
    {
        "ac",
        "co",
        "com",
        "edu",
        "gov",
        "gv",
        "ltd",
        "me",
        "mil",
        "ne",
        "net",
        "nic",
        "or",
        "org",
        "plc",
        "sch",
    }
)


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


def registrable_domain(name: str) -> str:
    """The registrable domain of a host name, approximately: the last two labels, or three under
    a country-code TLD's common second level (``mx.example.co.uk`` → ``example.co.uk``)."""
    labels = [label for label in _norm(name).split(".") if label]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def provider_for_host(host: str) -> Provider | None:
    """The provider whose MX host ``host`` is, if any."""
    for provider in PROVIDERS:
        if provider.matches(host):
            return provider
    return None


def mx_site(mx_hosts: Iterable[str], domain: str | None = None) -> str:
    """The MX site of a destination whose MX hosts are ``mx_hosts``, most preferred first.

    The first host decides (it is where connections go): a provider's site key, or the host's
    registrable domain. Without hosts, ``domain``'s registrable domain ("" without either).
    """
    for host in mx_hosts:
        host = _norm(host)
        if not host:
            continue
        provider = provider_for_host(host)
        return provider.site if provider is not None else registrable_domain(host)
    return registrable_domain(domain) if domain else ""
