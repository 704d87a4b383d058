"""The DKIM keys of the sending domains, and signing outbound mail with them.

Keys live as PEM files, one per selector: `DATA/dkim/<domain>/<selector>.pem` (mode 0600, in a
0700 directory). A domain's active keys are its newest RSA and newest Ed25519 key (selectors
are dated, `auth.dkim.keys`); `rotate` adds a newer pair, and the older ones stay on disk (and
their records stay published) until the operator removes them, so mail signed just before a
rotation still verifies.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from postoffice.auth.dkim.keyfile import write_private_key
from postoffice.auth.dkim.keys import (
    Algorithm,
    generate_key,
    load_private_key,
    parse_selector,
    private_key_pem,
    public_key_record,
    record_name,
    selector_name,
)
from postoffice.auth.dkim.sign import SigningKey, sign_many
from postoffice.clock import Clock
from postoffice.message.headers import field_values, header_end, mailbox_addresses, parse_fields

Signer = Callable[[bytes, str], bytes]
"""(message, sender domain) -> the DKIM-Signature fields to prepend (b"" for none)."""

ALGORITHMS: tuple[Algorithm, ...] = ("rsa-sha256", "ed25519-sha256")
CACHE_SECONDS = 30.0
"""How long the signer keeps a domain's keys before looking at the files again."""


@dataclass(frozen=True)
class DnsRecord:
    """One record to publish."""

    type: str
    name: str
    value: str


class Keyring:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "dkim"
        self._cache: dict[str, tuple[float, tuple[SigningKey, ...]]] = {}
        self._lock = threading.Lock()

    def _dir(self, domain: str) -> Path:
        return self.root / domain.lower().rstrip(".")

    def selectors(self, domain: str) -> list[str]:
        """Every selector of the domain that postoffice made, oldest first."""
        try:
            names = [p.stem for p in self._dir(domain).glob("*.pem")]
        except OSError:
            return []
        dated = []
        for name in names:
            parsed = parse_selector(name)
            if parsed is not None:
                dated.append(((parsed.year, parsed.month, parsed.serial, parsed.algorithm), name))
        return [name for _, name in sorted(dated)]

    def create(self, domain: str, today: dt.date) -> list[str]:
        """A new RSA-2048 and Ed25519 key for `domain`; returns their selectors."""
        directory = self._dir(domain)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(directory, 0o700)
        existing = set(self.selectors(domain))
        made = []
        for algorithm in ALGORITHMS:
            serial = 1
            while (selector := selector_name(algorithm, today, serial)) in existing:
                serial += 1
            key = generate_key(algorithm)
            write_private_key(directory / f"{selector}.pem", private_key_pem(key))
            made.append(selector)
        with self._lock:
            self._cache.pop(domain.lower(), None)
        return made

    def active(self, domain: str) -> tuple[SigningKey, ...]:
        """The newest key of each algorithm (cached for CACHE_SECONDS)."""
        domain = domain.lower().rstrip(".")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(domain)
            if hit is not None and hit[0] > now:
                return hit[1]
        newest: dict[str, str] = {}
        for selector in self.selectors(domain):
            parsed = parse_selector(selector)
            assert parsed is not None
            newest[parsed.algorithm] = selector
        keys = tuple(
            SigningKey(domain, selector, load_private_key((self._dir(domain) / f"{selector}.pem").read_bytes()))
            for selector in newest.values()
        )
        with self._lock:
            self._cache[domain] = (now + CACHE_SECONDS, keys)
        return keys

    def records(self, domain: str) -> list[DnsRecord]:
        """The DKIM TXT records of every key the domain has (old keys stay published)."""
        out = []
        for selector in self.selectors(domain):
            key = load_private_key((self._dir(domain) / f"{selector}.pem").read_bytes())
            out.append(DnsRecord("TXT", record_name(selector, domain), public_key_record(key)))
        return out

    def signer(self, clock: Clock) -> Signer:
        """A function signing a message (b"" when no domain of it has keys): as the author's
        domain (the From field) when it has keys, since that is the domain DMARC aligns with,
        else as the envelope sender's domain."""

        def sign_for(message: bytes, envelope_domain: str) -> bytes:
            for domain in (author_domain(message), envelope_domain):
                keys = self.active(domain) if domain else ()
                if keys:
                    return sign_many(message, keys, timestamp=int(clock.now()))
            return b""

        return sign_for


_SIMPLE_FROM = re.compile(r"(?:^|<)[^<>@\s\"]+@([A-Za-z0-9.-]+)>?\s*$")


def author_domain(message: bytes) -> str | None:
    """The domain of the single From mailbox, lowercased; None when there is no From field,
    several, or several mailboxes in it."""
    end = header_end(message)
    values = field_values(parse_fields(message[: end if end > 0 else len(message)]), "From")
    if len(values) != 1:
        return None
    value = values[0]
    match = _SIMPLE_FROM.search(value)
    if match is not None and value.count("@") == 1:
        return match.group(1).lower().rstrip(".")
    addresses = mailbox_addresses(value)
    if not addresses or len(addresses) != 1:
        return None
    return addresses[0].rpartition("@")[2].lower().rstrip(".")

