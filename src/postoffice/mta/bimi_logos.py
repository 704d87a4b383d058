"""BIMI Indicators (SVG logos) fetched over HTTPS for the MX, cached.

A logo is fetched the first time a passing message names it and kept for `ttl` seconds (a
failure for `retry_after`), so a busy sender's logo costs one fetch a day. The certificate must
match the URL's host; the body must be `image/svg+xml` and at most `max_size` octets (the SVG
profile's 32 KB). The caller checks the SVG (`auth.bimi.check_svg`)."""

from __future__ import annotations

import ssl
import urllib.parse

from postoffice.clock import SYSTEM_CLOCK, Clock
from postoffice.mta import https
from postoffice.mta.dns import DnsLookup
from postoffice.mta.https import FetchError

MAX_SIZE = 32 * 1024


class LogoFetcher:
    def __init__(
        self,
        resolver: DnsLookup,
        *,
        clock: Clock = SYSTEM_CLOCK,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 443,
        connect_host: str | None = None,
        timeout: float = 10.0,
        max_size: int = MAX_SIZE,
        ttl: float = 86400.0,
        retry_after: float = 3600.0,
    ) -> None:
        self.resolver = resolver
        self.clock = clock
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.port = port
        self.connect_host = connect_host
        """Tests: connect here, while the certificate must still match the URL's host."""
        self.timeout = timeout
        self.max_size = max_size
        self.ttl = ttl
        self.retry_after = retry_after
        self._cache: dict[str, tuple[float, bytes | FetchError]] = {}

    async def fetch(self, url: str) -> bytes:
        """The logo at `url`; raises FetchError (also a cached one) with the reason."""
        now = self.clock.now()
        hit = self._cache.get(url)
        if hit is not None and hit[0] > now:
            if isinstance(hit[1], FetchError):
                raise hit[1]
            return hit[1]
        try:
            data = await self._fetch(url)
        except FetchError as exc:
            self._cache[url] = (now + self.retry_after, exc)
            raise
        self._cache[url] = (now + self.ttl, data)
        return data

    async def _fetch(self, url: str) -> bytes:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "https" or not host or parts.port not in (None, 443):
            raise FetchError(f"{url}: not an https:// URL on port 443")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return await https.fetch(host, path, resolver=self.resolver, connect_host=self.connect_host,
                                 port=self.port, context=self.ssl_context,
                                 content_type="image/svg+xml", max_size=self.max_size,
                                 timeout=self.timeout)
