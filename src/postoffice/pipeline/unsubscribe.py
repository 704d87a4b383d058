"""One-click unsubscribe of this install: the List-Unsubscribe fields outbound mail gets at
delivery, and the unsubscribes that come back (a POST to the URL, mail to the address).

`policy.unsubscribe` makes and checks the tokens and says which messages get fields; this holds
the install's key, knows which domains are ours (a mailto is only offered where the MX takes
it), and writes the suppression and the `unsubscribed` event. Shared by the delivery engine,
the MX (RCPT to `unsubscribe+<token>@<local domain>`) and the http listener (`/u/<token>`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from postoffice.clock import Clock
from postoffice.config import UnsubscribeSettings
from postoffice.message.headers import header_end, parse_fields
from postoffice.policy import unsubscribe as policy
from postoffice.policy.unsubscribe import UnsubscribeToken
from postoffice.storage.interfaces import QueueItem, StoredMessage
from postoffice.storage.suppressions import Unsubscribe

log = logging.getLogger("postoffice.unsubscribe")
Fields = Sequence[tuple[str, str]]
Call = Callable[..., Awaitable[Any]]
"""`await call("method", *args)` runs that Store method on the store's thread."""


def gets_fields(head: Fields | bytes, *, lane: str, asked: bool, source: str) -> bool:
    """Whether a message accepted now gets List-Unsubscribe fields at delivery (kept as
    `StoredMessage.unsubscribe`): `head` is its header fields, or its content."""
    if source not in policy.SENT_SOURCES:
        return False
    if isinstance(head, bytes):
        end = header_end(head)
        head = parse_fields(head[:end] if end > 0 else head)
    return policy.wanted(lane=lane, asked=asked, source=source,
                         own=policy.has_list_unsubscribe(head))


class Unsubscribes:
    def __init__(
        self,
        install_key: bytes,
        settings: UnsubscribeSettings,
        *,
        hostname: str,
        call: Call,
        clock: Clock,
        is_local_domain: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.settings = settings
        self._key = policy.derive_key(install_key)
        self._host = settings.host or hostname
        self._call = call
        self._clock = clock
        self._is_local_domain = is_local_domain

    # -- outbound -------------------------------------------------------------------------

    async def fields(self, message: StoredMessage, item: QueueItem) -> bytes:
        """List-Unsubscribe and List-Unsubscribe-Post for one recipient of `message`, which
        goes in a transaction of its own (b"" when no token can be made for it)."""
        token = UnsubscribeToken(item.tenant, item.recipient, message.category, message.id,
                                 every_category=self.settings.every_category)
        try:
            text = policy.encode(token, self._key)
        except ValueError as exc:
            log.warning("no unsubscribe fields for id=%s to=%s: %s", message.id,
                        item.recipient, exc)
            return b""
        mailto = None
        domain = message.mail_from.rpartition("@")[2].lower()
        if self.settings.mailto and domain and await self._is_local_domain(domain):
            mailto = policy.mailto_address(text, domain)
        return policy.header_fields(policy.url(self.settings.scheme, self._host, text), mailto)

    # -- what comes back ------------------------------------------------------------------

    def token(self, text: str) -> UnsubscribeToken | None:
        """The token of a one-click URL's last segment, or None when it does not verify."""
        return policy.decode(text, self._key)

    def mailto_token(self, address: str) -> UnsubscribeToken | None:
        """The token of an `unsubscribe+<token>@...` address, or None."""
        text = policy.mailto_text(address)
        return None if text is None else self.token(text)

    async def unsubscribe(self, tokens: Sequence[UnsubscribeToken], how: str) -> int:
        """Suppress the address of each token and write its `unsubscribed` event (nothing for
        one that is suppressed already). Returns how many were new; raises StorageError."""
        made = 0
        for token in tokens:
            request = Unsubscribe(token.tenant, token.message_id, token.recipient,
                                  token.category, token.every_category, how, self._clock.now())
            if await self._call("record_unsubscribe", request) is not None:
                made += 1
                log.info("unsubscribed %s from tenant %s (%s) by %s, id=%s", token.recipient,
                         token.tenant, token.scope or "every category", how, token.message_id)
        return made
