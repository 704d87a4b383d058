"""MTA-STS for outbound delivery (RFC 8461): discover, fetch and cache destination policies.

Theory of operation
-------------------
``await mta_sts.policy("example.com")`` returns the :class:`~postoffice.policy.mta_sts.Policy`
that applies to a delivery to ``example.com`` now, or None. It

1. asks the shared resolver for the ``_mta-sts.example.com`` TXT record
   (:func:`sts_record_flow`): the current policy ``id``, or none (absent, malformed, lookup
   failed);
2. decides with :func:`~postoffice.policy.mta_sts.cache_decision` on the cached entry: use it,
   fetch, or no policy;
3. fetches ``https://mta-sts.example.com/.well-known/mta-sts.txt`` (:meth:`MtaSts.fetch`): the
   host's addresses from the shared resolver, the certificate verified for
   ``mta-sts.example.com`` (section 3.3), HTTP 200 only (redirects are not followed),
   ``Content-Type: text/plain``, at most ``max_size`` bytes, all within ``timeout`` seconds;
4. keeps a fetched policy in memory and in ``cache_dir/<domain>.json`` (written atomically, read
   back at the first call after a restart) until its ``max_age`` runs out.

Nothing here raises for network trouble: a failed fetch leaves the cached policy in force while
it has not expired (else: no policy), is logged (a warning when a cached policy is in force, as
section 3.3 asks), and is not tried again for the same ``id`` for ``retry_after`` seconds.
Concurrent calls for one domain share one discovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from postoffice.auth.dns import Flow, RRType, lookup, normalize_name
from postoffice.clock import SYSTEM_CLOCK, Clock
from postoffice.mta import https
from postoffice.mta.dns import DnsLookup, run_async
from postoffice.mta.https import FetchError
from postoffice.policy.mta_sts import (
    REFRESH_AFTER,
    CacheAction,
    CachedPolicy,
    Mode,
    Policy,
    PolicyError,
    after_failed_fetch,
    cache_decision,
    parse_policy,
    select_txt,
)

__all__ = ["MAX_SIZE", "WELL_KNOWN", "FetchError", "MtaSts", "StsRecord", "sts_record_flow"]

log = logging.getLogger("postoffice.mta-sts")

WELL_KNOWN = "/.well-known/mta-sts.txt"
MAX_SIZE = 64 * 1024
"""Largest policy body accepted (bytes)."""

_DOMAIN = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9])?")



@dataclass(frozen=True)
class StsRecord:
    """What the ``_mta-sts`` TXT lookup gave."""

    id: str | None
    """The policy id; None without a usable record."""
    reason: str = ""
    """Why there is no id."""
    absent: bool = False
    """True when the domain simply has no such record (NXDOMAIN, NODATA)."""


def sts_record_flow(domain: str) -> Flow[StsRecord]:
    """The ``_mta-sts.<domain>`` record's id (RFC 8461 3.1), as a DNS flow."""
    answer = yield from lookup(f"_mta-sts.{domain}", RRType.TXT)
    if answer.error is not None:
        detail = f" ({answer.detail})" if answer.detail else ""
        return StsRecord(None, f"TXT lookup: {answer.error}{detail}", not answer.temporary)
    try:
        id = select_txt(answer.texts)
    except PolicyError as exc:
        return StsRecord(None, str(exc))
    return StsRecord(id) if id is not None else StsRecord(None, "no v=STSv1 TXT record", True)


def _policy_domain(domain: str) -> str | None:
    """The domain in ASCII normal form, or None when it cannot have a policy (literals)."""
    name = normalize_name(domain)
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return name if _DOMAIN.fullmatch(name) else None


class MtaSts:
    """Policies of destination domains; one per process, shared by every delivery."""

    def __init__(
        self,
        resolver: DnsLookup,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        port: int = 443,
        ssl_context: ssl.SSLContext | None = None,
        connect_host: str | None = None,
        timeout: float = 10.0,
        max_size: int = MAX_SIZE,
        refresh_after: float = REFRESH_AFTER,
        retry_after: float = 300.0,
    ) -> None:
        self.resolver = resolver
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        """Where policies persist (``DATA/cache/mta-sts``); None: memory only."""
        self.clock = clock
        self.port = port
        self.ssl_context = ssl_context or _default_context()
        """Trust for policy hosts (default: the system's)."""
        self.connect_host = connect_host
        """Connect here instead of the policy host's addresses (tests); the certificate is still
        checked for ``mta-sts.<domain>``."""
        self.timeout = timeout
        """Seconds one fetch may take, address lookup included."""
        self.max_size = max_size
        self.refresh_after = refresh_after
        self.retry_after = retry_after
        """Seconds before a failed fetch is tried again for the same id."""
        self._cache: dict[str, CachedPolicy] = {}
        self._failed: dict[str, tuple[str, float]] = {}
        self._inflight: dict[str, asyncio.Task[Policy | None]] = {}
        self._loaded = cache_dir is None

    def cached(self, domain: str) -> CachedPolicy | None:
        """The policy held for ``domain`` (expired or not), without any lookup."""
        name = _policy_domain(domain)
        return self._cache.get(name) if name else None

    async def policy(self, domain: str) -> Policy | None:
        """The policy in force for a delivery to ``domain``, or None. Never raises for DNS or
        network trouble."""
        name = _policy_domain(domain)
        if name is None:
            return None
        task = self._inflight.get(name)
        if task is None:
            task = asyncio.ensure_future(self._discover(name))
            self._inflight[name] = task
        # shield: a caller that gives up does not cancel the discovery others wait for
        return await asyncio.shield(task)

    async def _discover(self, domain: str) -> Policy | None:
        try:
            if not self._loaded:
                await self._load()
            record = await run_async(sts_record_flow(domain), self.resolver)
            now = self.clock.now()
            cached = self._cache.get(domain)
            action = cache_decision(cached, record.id, now, self.refresh_after)
            if action is CacheAction.NO_POLICY:
                if cached is not None:
                    await self._drop(domain)
                log.log(logging.DEBUG if record.absent else logging.INFO,
                        "%s: no MTA-STS policy: %s", domain, record.reason)
                return None
            if action is CacheAction.USE_CACHED:
                assert cached is not None
                if record.id is None:
                    log.debug("%s: cached MTA-STS policy in force: %s", domain, record.reason)
                return cached.policy
            assert record.id is not None
            return await self._refetch(domain, record.id, cached, now)
        finally:
            self._inflight.pop(domain, None)

    async def _refetch(
        self, domain: str, id: str, cached: CachedPolicy | None, now: float
    ) -> Policy | None:
        failed = self._failed.get(domain)
        if failed is not None and failed[0] == id and now < failed[1]:
            fallback = after_failed_fetch(cached, now)
            return fallback.policy if fallback else None
        try:
            policy = await self.fetch(domain)
        except FetchError as exc:
            now = self.clock.now()
            self._failed[domain] = (id, now + self.retry_after)
            fallback = after_failed_fetch(cached, now)
            if fallback is None:
                log.info("%s: MTA-STS policy id %s not fetched (%s): delivering without a policy",
                         domain, id, exc)
                return None
            level = logging.INFO if fallback.policy.mode is Mode.NONE else logging.WARNING
            log.log(level, "%s: MTA-STS policy id %s not fetched (%s): cached policy id %s "
                    "(%s) stays in force", domain, id, exc, fallback.id, fallback.policy.mode)
            return fallback.policy
        self._failed.pop(domain, None)
        entry = CachedPolicy.fetched(policy, id, self.clock.now())
        self._cache[domain] = entry
        log.info("%s: MTA-STS policy id %s: mode %s, mx %s, max_age %d", domain, id,
                 policy.mode, ", ".join(policy.mx) or "-", policy.max_age)
        if self.cache_dir is not None:
            try:
                await asyncio.to_thread(_write_entry, self.cache_dir, domain, entry)
            except OSError as exc:
                log.warning("%s: MTA-STS policy not saved in %s: %s", domain, self.cache_dir, exc)
        return policy

    # -- persistent cache ------------------------------------------------------------------

    async def _load(self) -> None:
        assert self.cache_dir is not None
        try:
            entries = await asyncio.to_thread(_read_entries, self.cache_dir, self.clock.now())
        except OSError as exc:
            log.warning("MTA-STS cache %s not read: %s", self.cache_dir, exc)
            entries = {}
        if not self._loaded:
            for domain, entry in entries.items():
                self._cache.setdefault(domain, entry)
            self._loaded = True

    async def _drop(self, domain: str) -> None:
        self._cache.pop(domain, None)
        if self.cache_dir is not None:
            path = self.cache_dir / f"{domain}.json"
            with contextlib.suppress(OSError):
                await asyncio.to_thread(path.unlink, True)

    # -- fetching --------------------------------------------------------------------------

    async def fetch(self, domain: str) -> Policy:
        """Fetch and parse ``domain``'s policy now (no cache); raises :class:`FetchError`."""
        host = f"mta-sts.{domain}"
        url = f"https://{host}{WELL_KNOWN}"
        body = await https.fetch(host, WELL_KNOWN, resolver=self.resolver,
                                 connect_host=self.connect_host, port=self.port,
                                 context=self.ssl_context, content_type="text/plain",
                                 max_size=self.max_size, timeout=self.timeout)
        try:
            return parse_policy(body)
        except PolicyError as exc:
            raise FetchError(f"{url}: invalid policy: {exc}") from None


def _default_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --------------------------------------------------------------------------- cache files


def _write_entry(directory: Path, domain: str, entry: CachedPolicy) -> None:
    """``directory/<domain>.json``, replaced atomically (temporary file, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "domain": domain,
        "id": entry.id,
        "fetched_at": entry.fetched_at,
        "expires_at": entry.expires_at,
        "policy": entry.policy.to_text(),
    }
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{domain}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / f"{domain}.json")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_entries(directory: Path, now: float) -> dict[str, CachedPolicy]:
    """The unexpired policies saved in ``directory``; expired ones and leftovers are removed,
    unreadable ones are skipped with a warning."""
    entries: dict[str, CachedPolicy] = {}
    if not directory.is_dir():
        return entries
    for path in directory.iterdir():
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)  # an interrupted write
            continue
        if path.suffix != ".json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            domain, id = data["domain"], data["id"]
            fetched_at = float(data["fetched_at"])
            if not isinstance(domain, str) or not isinstance(id, str) or path.stem != domain:
                raise ValueError("domain or id missing or wrong")
            entry = CachedPolicy.fetched(parse_policy(str(data["policy"])), id, fetched_at)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # PolicyError is a ValueError
            log.warning("MTA-STS cache file %s skipped: %s: %s", path, type(exc).__name__, exc)
            continue
        if entry.valid(now):
            entries[domain] = entry
        else:
            path.unlink(missing_ok=True)
    return entries
