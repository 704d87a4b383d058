"""Greylisting at RCPT on the MX: `policy.greylist` decides, this module looks the triplet and
its client network up and records the outcome, in one call on the store's thread.

Passes are cached in the process for a few minutes (a pass stays a pass for weeks), so mail
from known senders costs no database round trip per recipient. Expired rows are purged once an
hour, by the first check after the hour is up. A storage failure lets the recipient through:
greylisting is a filter, not a reason to refuse mail."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from postoffice.clock import Clock
from postoffice.config import InboundSettings
from postoffice.pipeline.session import SessionInfo, from_outside
from postoffice.policy import greylist
from postoffice.policy.recipients import split_address
from postoffice.proto.smtp.reply import Reply
from postoffice.storage.interfaces import GreylistEntry, GreylistNetwork, StorageError, Store

log = logging.getLogger("postoffice.greylist")
Runner = Callable[..., Awaitable[Any]]

GREYLISTED: Final = Reply(451, "4.7.1", "Greylisted, try again later")
CACHE_TTL: Final = 300.0
PURGE_EVERY: Final = 3600.0


class Greylisting:
    def __init__(
        self, *, settings: InboundSettings, run: Runner, clock: Clock,
        policy: greylist.Settings | None = None,
    ) -> None:
        self._domains = settings.greylist_domains
        self._policy = policy or greylist.Settings(
            delay=settings.greylist_delay, retry_window=settings.greylist_retry_window,
            remember=settings.greylist_remember, allowlist_after=settings.greylist_auto_allowlist)
        self._skip = [ipaddress.ip_network(n, strict=False) for n in settings.skip_networks]
        self._run = run
        self._clock = clock
        self._passes: dict[str, float] = {}
        """Cached passes: a network or a triplet -> until when."""
        self._next_purge = 0.0

    def applies(self, session: SessionInfo) -> bool:
        """The sessions the MX checks, whether or not `[inbound] checks` is on."""
        return from_outside(session, self._skip)

    async def check(self, client_ip: str, mail_from: str, recipient: str) -> Reply | None:
        """GREYLISTED when this attempt is deferred, else None."""
        _, domain = split_address(recipient)
        if not greylist.greylisted_domain(domain, self._domains) or greylist.exempt(recipient):
            return None
        key = greylist.triplet(client_ip, mail_from, recipient)
        now = self._clock.now()
        cached = [key.network, f"{key.network} {key.sender} {key.recipient}"]
        if any(self._passes.get(k, 0.0) > now for k in cached):
            return None
        purge = now >= self._next_purge
        if purge:
            self._next_purge = now + PURGE_EVERY
        try:
            verdict, allowlisted = await self._run(_check, key, now, self._policy, purge)
        except StorageError as exc:
            log.warning("greylisting skipped for client=%s: %s", client_ip, exc)
            return None
        if verdict == "pass":
            if len(self._passes) > 100_000:
                self._passes.clear()
            self._passes[cached[0] if allowlisted else cached[1]] = now + CACHE_TTL
            return None
        log.info("greylisted client=%s from=<%s> to=<%s>", client_ip, mail_from, recipient)
        return GREYLISTED


def _check(store: Store, key: greylist.Triplet, now: float, policy: greylist.Settings,
           purge: bool) -> tuple[greylist.Verdict, bool]:
    """On the store's thread: (verdict, whether the network is allowlisted)."""
    if purge:
        store.delete_expired_greylist(now)
    row = store.get_greylist_network(key.network)
    network = greylist.NetworkEntry(row.passes, row.expires_at) if row else None
    allowlisted = greylist.allowlisted(network, now, policy.allowlist_after)
    entry = None
    if not allowlisted:
        stored = store.get_greylist(key.network, key.sender, key.recipient)
        if stored is not None:
            entry = greylist.Entry(stored.first_seen, stored.expires_at, stored.passed)
    step = greylist.check(entry, network, now, policy)
    if step.entry is not None:
        e = step.entry
        store.put_greylist(GreylistEntry(key.network, key.sender, key.recipient, e.first_seen,
                                         e.expires_at, e.passed))
    if step.network is not None:
        # Two workers counting passes of one network at once may lose one: it only delays
        # the allowlisting by one triplet.
        store.put_greylist_network(
            GreylistNetwork(key.network, step.network.passes, step.network.expires_at))
    return step.verdict, allowlisted
