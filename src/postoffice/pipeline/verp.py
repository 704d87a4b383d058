"""VERP return paths of this install: outbound envelope senders, and the bounces that come back.

`policy.verp` makes and checks the tokens; this holds the install's secret and asks the
directory which domains are ours, since a return path is only worth making where its bounce
comes back to us. Shared by the intake (RCPT to a return path) and the delivery engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from postoffice.policy import srs, verp
from postoffice.policy.recipients import split_address
from postoffice.policy.verp import VerpToken

BOUNCE_HEADER = "X-Postoffice-Bounce"


class ReturnPaths:
    def __init__(
        self,
        secret: bytes,
        *,
        is_local_domain: Callable[[str], Awaitable[bool]],
        mailbox: Callable[[], Awaitable[str]],
    ) -> None:
        self._secret = secret
        self._is_local_domain = is_local_domain
        self.mailbox = mailbox
        """Where bounces to a return path are filed (`[delivery] bounce_mailbox`)."""

    async def sender(self, mail_from: str, message_id: str, item: int) -> str:
        """The envelope sender for queue item `item` of message `message_id`: its return path
        in the sender's domain when that domain is local, else `mail_from` as it is (the null
        sender stays null). Items past what a token with a message id holds get an item-only
        token. An SRS sender (a forwarded copy) stays: a bounce to it goes back to the original
        sender through reverse SRS."""
        local, domain = split_address(mail_from)
        if not local or not domain or srs.is_srs(mail_from) or not await self._is_local_domain(domain):
            return mail_from
        token = VerpToken(item, message_id if item <= verp.MAX_INDEX else None)
        return verp.encode(token=token, domain=domain, secret=self._secret)

    def token(self, address: str) -> VerpToken | None:
        """What a return path names, or None when `address` is not one of ours."""
        return verp.decode(address, self._secret)


def bounce_header(token: VerpToken) -> bytes:
    """The trace field a filed bounce gets, for matching it to the queue item later."""
    parts = ([f"message={token.message_id}"] if token.message_id else []) + [f"item={token.item}"]
    return f"{BOUNCE_HEADER}: {'; '.join(parts)}\r\n".encode("ascii")
