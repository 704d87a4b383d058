"""Delivery status notifications the engine owes senders (RFC 3464): a failure notice for
items that failed and asked for one, a delay notice ("still trying") once per item whose NOTIFY
asks for DELAY after `[delivery] delay_notice_after`. One notice per message, built by
`message.dsn` and injected from the null sender like any other message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from postoffice.clock import Clock
from postoffice.config import Config
from postoffice.message.dsn import Action, DsnRecipient, build_dsn
from postoffice.pipeline.intake import Intake
from postoffice.storage.interfaces import QueueItem, Store, StoredMessage

StoreCall = Callable[..., Awaitable[Any]]
BATCH = 200
"""Items looked at per round."""


class Notices:
    def __init__(self, *, config: Config, run: StoreCall, intake: Intake, clock: Clock) -> None:
        self.config = config
        self._run = run
        self._intake = intake
        self._clock = clock

    async def send_failures(self) -> None:
        """DSNs for failed items that owe one, one notice per message."""
        items: list[QueueItem] = await self._run(_owed_failures, BATCH)
        await self._notify_grouped(items, Action.FAILED, _failure_told)

    async def send_delays(self) -> None:
        """"Still trying" DSNs where NOTIFY asked for DELAY, once per item."""
        after = self.config.delivery.delay_notice_after
        if after <= 0:
            return
        items: list[QueueItem] = await self._run(_owed_delays, self._clock.now() - after, BATCH)
        await self._notify_grouped(items, Action.DELAYED, _delay_told)

    async def _notify_grouped(
        self, items: list[QueueItem], action: Action, done: Callable[[Store, list[int]], None]
    ) -> None:
        """One notice per message for `items`, then `done` marks them told."""
        if not items:
            return
        by_message: dict[str, list[QueueItem]] = defaultdict(list)
        for item in items:
            by_message[item.message_id].append(item)
        messages = await self._run(messages_by_id, list(by_message))
        for message_id, told in by_message.items():
            message = messages.get(message_id)
            if message is not None and message.mail_from:
                await self._notify(message, told, action)
            await self._run(done, [i.id for i in told])

    async def _notify(self, message: StoredMessage, items: list[QueueItem], action: Action) -> None:
        original: bytes = await self._run(read_blob, message.blob)
        lifetime = self.config.delivery.lifetime
        recipients = [
            DsnRecipient(
                final_recipient=i.recipient, original_recipient=i.orcpt, action=action,
                status=status_of(i.last_error, temporary=action is Action.DELAYED),
                diagnostic=i.last_error, last_attempt=i.last_attempt_at,
                will_retry_until=i.created_at + lifetime if action is Action.DELAYED else None,
            )
            for i in items
        ]
        dsn = build_dsn(
            reporting_mta=self.config.server.hostname, sender=message.mail_from,
            recipients=recipients, original=original, arrival=message.received_at,
            now=self._clock.now(), ret=message.ret, envid=message.envid,
            smtputf8=message.smtputf8,
        )
        local, relay = await self._intake.route_address(message.mail_from)
        await self._intake.inject(dsn, mail_from="", local=local, relay=relay, source="dsn")


def status_of(error: str | None, temporary: bool = False) -> str:
    """The enhanced status code in a recorded error ("550 5.1.1 ..." -> "5.1.1"), in the class
    the notice needs: 4.x.x for a delay, 5.x.x for a failure (an expired 4.x.x becomes 5.x.x)."""
    klass = "4" if temporary else "5"
    for word in (error or "").split():
        parts = word.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in ("4", "5"):
            return klass + word[1:]
    return f"{klass}.0.0"


# Store calls made on the committer's thread (the engine uses the last two too).

def _owed_failures(store: Store, limit: int) -> list[QueueItem]:
    return store.owed_failure_notices(limit)


def _failure_told(store: Store, ids: list[int]) -> None:
    store.clear_failure_notice(ids)


def _owed_delays(store: Store, created_before: float, limit: int) -> list[QueueItem]:
    return store.owed_delay_notices(created_before, limit)


def _delay_told(store: Store, ids: list[int]) -> None:
    store.mark_delay_notified(ids)


def messages_by_id(store: Store, ids: list[str]) -> dict[str, StoredMessage]:
    found = {}
    for message_id in ids:
        message = store.get_message(message_id)
        if message is not None:
            found[message_id] = message
    return found


def read_blob(store: Store, digest: str) -> bytes:
    return store.blobs.read(digest)
