"""Password hashing: scrypt (RFC 7914) in a self-describing string; passwords are never stored.

`LoginCache` spares a client that logs in again and again (a phone reconnecting every few
minutes) the deliberately slow hash: after one successful verification it remembers, for
`ttl` seconds, an HMAC-SHA256 under a random per-process key of (address, password, stored
hash), never the password. A changed hash no longer matches; failures are never remembered.
Every login path (IMAP, POP3, SMTP AUTH, ManageSieve) goes through `LOGINS`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """"$scrypt$n=..,r=..,p=..$<salt>$<hash>" with base64 (no padding) parts."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"${_SCHEME}$n={n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a hash_password() string."""
    try:
        _, scheme, params, salt_b64, digest_b64 = stored.split("$")
        if scheme != _SCHEME:
            return False
        values = dict(item.split("=", 1) for item in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
        salt, expected = _unb64(salt_b64), _unb64(digest_b64)
    except (ValueError, KeyError):
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**27
    )
    return hmac.compare_digest(digest, expected)


def generate_password() -> str:
    """A password to print once at init: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


DEFAULT_LOGIN_CACHE_TTL = 300.0
LOGIN_CACHE_ENTRIES = 10_000
"""At most this many remembered logins per process (the oldest go first)."""


class LoginCache:
    """Successful password verifications of this process, remembered for `ttl` seconds
    (0 disables). Thread-safe; `cached` is cheap enough for the event loop."""

    def __init__(self, ttl: float = DEFAULT_LOGIN_CACHE_TTL, *,
                 entries: int = LOGIN_CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic,
                 verify: Callable[[str, str], bool] = verify_password) -> None:
        self.ttl = ttl
        self._max = entries
        self._clock = clock
        self._verify = verify
        self._lock = threading.Lock()
        self._expiry: OrderedDict[bytes, float] = OrderedDict()
        self._pid = os.getpid()
        self._key = os.urandom(32)

    def configure(self, ttl: float) -> None:
        """Set the lifetime (seconds) and forget everything remembered."""
        with self._lock:
            self.ttl = ttl
            self._expiry.clear()

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

    def __len__(self) -> int:
        return len(self._expiry)

    def cached(self, address: str, password: str, stored: str) -> bool:
        """True when this exact login verified within the lifetime (no hashing)."""
        if self.ttl <= 0:
            return False
        with self._lock:
            mac = self._mac(address, password, stored)
            expiry = self._expiry.get(mac)
            if expiry is None:
                return False
            if expiry <= self._clock():
                del self._expiry[mac]
                return False
            return True

    def verify(self, address: str, password: str, stored: str) -> bool:
        """Whether `password` is right for `stored` (the hash on file for `address`): from
        the cache, or by the full verification (remembered when it succeeds)."""
        if self.cached(address, password, stored):
            return True
        if not self._verify(password, stored):
            return False
        if self.ttl > 0:
            with self._lock:
                mac = self._mac(address, password, stored)
                self._expiry[mac] = self._clock() + self.ttl
                self._expiry.move_to_end(mac)
                while len(self._expiry) > self._max:
                    self._expiry.popitem(last=False)
        return True

    def _mac(self, address: str, password: str, stored: str) -> bytes:
        """(Called with the lock held.) A process that was forked gets a key of its own."""
        if self._pid != os.getpid():
            self._pid, self._key = os.getpid(), os.urandom(32)
            self._expiry.clear()
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (address.lower(), password, stored):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(4, "big"))
            mac.update(data)
        return mac.digest()


LOGINS = LoginCache()
"""The process's login cache; `postoffice serve` sets its lifetime from `[auth]`."""
