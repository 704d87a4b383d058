"""Forwarding by aliases: SRS envelope senders and ARC seals for the copies that leave.

`policy.srs` makes and reverses the addresses; this holds the install's SRS secret (derived
from the per-install key, `mta/verp_keys.py`) and a lookup of each domain's RSA signing key
(the DKIM keyring, given by the composition root), and seals a forwarded copy with one ARC set
recording what our checks found (`authres`), so the next hop can trust the results we saw
before forwarding changed the envelope."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from postoffice.auth import arc
from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.sign import SigningKey
from postoffice.clock import Clock
from postoffice.policy import srs

log = logging.getLogger("postoffice.forwarding")
DAY = 86400


def srs_secret(install_key: bytes) -> bytes:
    """The SRS secret, kept apart from other uses of the install's key."""
    return hmac.new(install_key, b"postoffice-srs-1", hashlib.sha256).digest()


class Forwarding:
    def __init__(
        self,
        secret: bytes,
        *,
        authserv_id: str,
        key_for: Callable[[str], SigningKey | None],
        clock: Clock,
    ) -> None:
        self._secret = secret
        self._authserv_id = authserv_id
        self._key_for = key_for
        """The domain's RSA signing key, None when it has none."""
        self._clock = clock

    def _today(self) -> int:
        return int(self._clock.now() // DAY)

    def sender(self, mail_from: str, domain: str) -> str:
        """MAIL FROM of a copy forwarded by an alias of `domain` (the null sender stays null)."""
        return srs.forward(mail_from, domain, self._secret, self._today())

    def reverse(self, address: str) -> str | None:
        """Where mail to an SRS address of ours goes on to, None when it does not verify."""
        try:
            return srs.reverse(address, self._secret, self._today())
        except srs.SrsError as exc:
            log.info("refused SRS address %s: %s", address, exc)
            return None

    def seal(self, content: bytes, domain: str, *, authres: str | None,
             chain: arc.ArcResult | None) -> bytes:
        """The ARC fields to put on top of a forwarded copy, signed with `domain`'s key; b""
        when it has no key or the chain cannot be sealed. Unchecked mail (`chain` None) is
        sealed with cv=none and what is known: nothing ("none")."""
        key = self._key_for(domain)
        if key is None:
            log.warning("forwarded copy not ARC-sealed: %s has no RSA DKIM key", domain)
            return b""
        try:
            return arc.seal(content, authres=authres or f"{self._authserv_id}; none", key=key,
                            timestamp=int(self._clock.now()),
                            chain=chain or arc.ArcResult(arc.ArcStatus.NONE, "not checked"))
        except DkimError as exc:
            log.warning("forwarded copy not ARC-sealed for %s: %s", domain, exc)
            return b""
