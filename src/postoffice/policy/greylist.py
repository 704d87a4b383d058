"""Greylisting (RFC 6647): a stranger's first attempt is deferred; a real MTA retries.

Pure: the caller passes the stored entries and the time, and stores what comes back.

The triplet a decision is about:

- the client network: IPv4 /24, IPv6 /64 (an IPv4-mapped IPv6 address counts as IPv4), so a
  sender whose retries leave from another address of its pool is still recognised;
- the envelope sender, normalised by `normalise_sender` so that per-message return paths (VERP,
  SRS) of one sender make one triplet, not one per message;
- the recipient, lower-cased.

The rules (`decide`): a triplet seen for the first time, or whose entry expired, is deferred and
recorded; a retry before `delay` has passed is deferred again without resetting the timer; a
retry after `delay` and within `retry_window` after that passes, and the triplet is remembered
for `remember` after its last pass. An allowlist learns by itself (`check`): a client network
that has passed `allowlist_after` distinct triplets is a retrying MTA and is no longer
greylisted, for `remember` after it was last seen.

Who is not greylisted (`exempt`): postmaster@ and abuse@ of every domain (RFC 5321 4.5.1,
RFC 2142: someone whose server mishandles 4xx must still reach them; Postgrey's default
recipient allowlist does the same). The null sender is greylisted like anyone (as Postgrey
does): bounces come from MTA queues, which retry. Bounces to our own VERP return paths are a
different route and never get here."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Literal

DAY: Final = 86400.0
DEFAULT_DELAY: Final = 300.0
DEFAULT_RETRY_WINDOW: Final = DAY
DEFAULT_REMEMBER: Final = 36 * DAY
DEFAULT_ALLOWLIST_AFTER: Final = 5
REFRESH_STEP: Final = DAY
"""A pass moves a remembered expiry forward only when that gains at least this much: one
write per triplet (or network) a day, not one per message."""
EXEMPT_LOCAL_PARTS: Final = frozenset({"postmaster", "abuse"})

Verdict = Literal["pass", "defer"]


@dataclass(frozen=True)
class Triplet:
    network: str
    """"192.0.2.0/24", "2001:db8:1:2::/64"."""
    sender: str
    """Normalised envelope sender ("" for the null sender)."""
    recipient: str
    """Lower-case recipient address."""


@dataclass(frozen=True)
class Entry:
    """What is remembered of one triplet."""

    first_seen: float
    expires_at: float
    """A waiting triplet: the end of its retry window; a passed one: last pass + remember."""
    passed: bool


@dataclass(frozen=True)
class NetworkEntry:
    """What is remembered of one client network: the triplets it has passed."""

    passes: int
    expires_at: float


@dataclass(frozen=True)
class Settings:
    delay: float = DEFAULT_DELAY
    retry_window: float = DEFAULT_RETRY_WINDOW
    remember: float = DEFAULT_REMEMBER
    allowlist_after: int = DEFAULT_ALLOWLIST_AFTER
    """Distinct passed triplets after which a network is not greylisted; 0 = never."""


@dataclass(frozen=True)
class Step:
    """The outcome of `check`, and what to store (None: leave as it is)."""

    verdict: Verdict
    entry: Entry | None = None
    network: NetworkEntry | None = None


def client_network(client_ip: str) -> str:
    """The network a client address counts in: /24 for IPv4, /64 for IPv6."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network((address, prefix), strict=False))


_SEPARATORS = re.compile(r"([=-])")
_TOKEN = re.compile(r"[0-9]+|(?=[a-f0-9]*[0-9])[a-f0-9]+|(?=[a-z0-9]*[0-9])[a-z0-9]{8,}")


def normalise_sender(address: str) -> str:
    """The sender as one triplet key for all of its messages.

    1. Lower-case; the null sender stays "".
    2. SRS (`srs0=HASH=TT=domain=local`, `srs1=HASH=forwarder==HASH=TT=domain=local`): the
       hash and timestamp fields are removed.
    3. Everything from the first "+" of the local part on is removed (subaddress, VERP tag:
       `bounce+abc123@x` -> `bounce@x`).
    4. The rest is split at "=" and "-". When that gives more than one piece, each piece that
       is a per-message token is removed with its separator: digits only, hex digits with at
       least one digit ("8c3d1e2f", "89ab"), or 8 or more letters and digits with at least one
       digit (base32 and similar ids): `prvs=1a2b3c4d5e=alice@x` -> `prvs=alice@x`,
       `news-12345@x` -> `news@x`. Nothing left: the local part is "#". A local part of one
       piece is kept as it is ("12345@x" is somebody's name)."""
    address = address.lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    pieces = _SEPARATORS.split(_strip_srs(local).split("+", 1)[0])
    if len(pieces) == 1:
        return f"{pieces[0]}@{domain}"
    kept = [] if _TOKEN.fullmatch(pieces[0]) else [pieces[0]]
    for separator, piece in zip(pieces[1::2], pieces[2::2], strict=True):
        if not _TOKEN.fullmatch(piece):
            kept.append(separator + piece if kept else piece)
    return f"{''.join(kept) or '#'}@{domain}"


def _strip_srs(local: str) -> str:
    fields = local.split("=")
    if fields[0] == "srs0" and len(fields) >= 5:
        return "=".join([fields[0], *fields[3:]])
    if fields[0] == "srs1" and len(fields) >= 7 and fields[3] == "":
        return "=".join([fields[0], fields[2], "", *fields[6:]])
    return local


def triplet(client_ip: str, sender: str, recipient: str) -> Triplet:
    return Triplet(client_network(client_ip), normalise_sender(sender), recipient.lower())


def greylisted_domain(domain: str, domains: tuple[str, ...]) -> bool:
    """Whether mail for `domain` is greylisted ("*" in `domains`: every local domain)."""
    domain = domain.lower().rstrip(".")
    return any(d == "*" or d.lower().rstrip(".") == domain for d in domains)


def exempt(recipient: str) -> bool:
    local = recipient.rpartition("@")[0].lower()
    return local in EXEMPT_LOCAL_PARTS


def decide(
    entry: Entry | None,
    now: float,
    delay: float = DEFAULT_DELAY,
    retry_window: float = DEFAULT_RETRY_WINDOW,
    remember: float = DEFAULT_REMEMBER,
) -> tuple[Verdict, Entry]:
    """The verdict on one attempt of a triplet, and its entry after it (the same object when
    nothing changed)."""
    if entry is None or now >= entry.expires_at:
        return "defer", Entry(now, now + delay + retry_window, passed=False)
    if entry.passed:
        return "pass", _refreshed(entry, now + remember)
    if now < entry.first_seen + delay:
        return "defer", entry
    return "pass", Entry(entry.first_seen, now + remember, passed=True)


def _refreshed(entry: Entry, expires_at: float) -> Entry:
    if not _gains(entry.expires_at, expires_at):
        return entry
    return Entry(entry.first_seen, expires_at, entry.passed)


def allowlisted(network: NetworkEntry | None, now: float, allowlist_after: int) -> bool:
    return (allowlist_after > 0 and network is not None and now < network.expires_at
            and network.passes >= allowlist_after)


def check(entry: Entry | None, network: NetworkEntry | None, now: float,
          settings: Settings) -> Step:
    """One attempt: the network's allowlist first, then the triplet; a triplet's first pass
    counts for its network."""
    remember = settings.remember
    if network is not None and allowlisted(network, now, settings.allowlist_after):
        seen = NetworkEntry(network.passes, now + remember)
        return Step("pass", network=seen if _gains(network.expires_at, seen.expires_at) else None)
    verdict, new = decide(entry, now, settings.delay, settings.retry_window, remember)
    counted = None
    if new.passed and not (entry is not None and entry.passed):
        earlier = network.passes if network is not None and now < network.expires_at else 0
        counted = NetworkEntry(earlier + 1, now + remember)
    return Step(verdict, None if new is entry else new, counted)


def _gains(old: float, new: float) -> bool:
    return new - old >= REFRESH_STEP
