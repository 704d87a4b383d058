"""Sieve at delivery: run each local recipient's active script on a message being accepted.

`decide` runs before the message is committed (the filings go into the acceptance; a rejection
by every recipient becomes the SMTP reply); `after` runs once it is safe: errors recorded,
vacation replies and rejection notices sent. Nothing here may lose the message: a broken
script files it as if there were none, and failures after the commit are only logged."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from postoffice import sieve
from postoffice.clock import Clock
from postoffice.message import headers
from postoffice.message.dsn import Action as DsnAction
from postoffice.message.dsn import DsnRecipient, build_dsn
from postoffice.message.envelope import Recipient
from postoffice.pipeline import filters
from postoffice.storage.interfaces import Filing, StorageError, StoredMessage
from postoffice.storage.mailboxes import SieveScript

if TYPE_CHECKING:
    from postoffice.pipeline.directory import DirectoryCache

log = logging.getLogger("postoffice.sieve")

Route = Callable[[str], Awaitable[tuple[tuple[str, ...], tuple[Recipient, ...]]]]
Inject = Callable[..., Awaitable[str]]


@dataclass(frozen=True)
class ActiveScript:
    script: SieveScript
    folders: frozenset[str] = frozenset()
    """The user's selectable folders, looked up only for scripts that test mailboxexists."""


class SieveStep:
    def __init__(self, *, directory: DirectoryCache, clock: Clock, hostname: str,
                 spam_threshold: float, route: Route, inject: Inject) -> None:
        self._directory = directory
        self._clock = clock
        self._hostname = hostname
        self._threshold = spam_threshold
        self._route = route
        self._inject = inject

    async def scripts(self, local: list[str]) -> dict[str, ActiveScript]:
        """The active script of each local recipient that has one; raises StorageError."""
        found = {}
        for address in local:
            script = await self._directory.active_script(address)
            if script is None:
                continue
            folders = frozenset[str]()
            if "mailboxexists" in script.source:
                folders = await self._directory.folders(address)
            found[address] = ActiveScript(script, folders)
        return found

    def decide(self, scripts: dict[str, ActiveScript], content: bytes, *, mail_from: str,
               spam_score: float | None, timestamp: float) -> dict[str, filters.Decision]:
        """Each script's decision for the message (`content` as it will be stored)."""
        now = datetime.fromtimestamp(timestamp).astimezone()
        decisions = {}
        for address, active in scripts.items():
            script = active.script
            compiled = filters.compiled(script.source)
            body = not isinstance(compiled, sieve.SieveError) and filters.needs_body(compiled)
            message = filters.message_for(
                content, envelope_from=mail_from, envelope_to=address, spam_score=spam_score,
                spam_threshold=self._threshold, now=now, body=body, folders=active.folders)
            decision = filters.decide(address, script.source, message)
            if decision.error is None:
                decision = _unlooped(address, decision, message)
            decisions[address] = decision
            log.info("sieve rcpt=%s script=%s filed=%s redirect=%d reject=%s vacation=%s%s",
                     address, script.name,
                     ",".join(f.folder or "-" for f in decision.filings) or "none",
                     len(decision.redirects), decision.reject is not None,
                     decision.vacation is not None,
                     f" error={decision.error}" if decision.error else "")
        return decisions

    async def after(self, message: StoredMessage, content: bytes,
                    scripts: dict[str, ActiveScript], decisions: dict[str, filters.Decision],
                    junk: bool) -> None:
        """What the scripts ask for once the message is safe: errors recorded, vacation
        replies, rejection notices (not for Junk: its sender is likely forged)."""
        rejected = []
        for address, decision in decisions.items():
            script = scripts[address].script
            try:
                if decision.error is not None and decision.error != script.last_error:
                    await self._directory.record_error(address, script.name, decision.error)
                if decision.vacation is not None and not junk:
                    await self._vacation(message, content, address, decision.vacation)
            except (StorageError, OSError) as exc:
                log.warning("sieve rcpt=%s: %s", address, exc)
            if decision.reject is not None:
                rejected.append((address, decision.reject))
        if rejected and message.mail_from and not junk:
            try:
                await self._reject_notice(message, content, rejected)
            except (StorageError, OSError) as exc:
                log.warning("sieve: rejection notice for id=%s not sent: %s", message.id, exc)

    async def _vacation(self, message: StoredMessage, content: bytes, address: str,
                        vacation: sieve.Vacation) -> None:
        end = headers.header_end(content)
        fields = headers.parse_fields(content[:end] if end >= 0 else content)
        if not sieve.should_reply(fields, message.mail_from,
                                  filters.own_addresses(address, vacation)):
            return
        if not await self._directory.note_vacation(address, vacation.key, message.mail_from,
                                                   vacation.days):
            return
        reply = filters.vacation_reply(vacation, user=address, to=message.mail_from,
                                       original=fields, hostname=self._hostname,
                                       now=self._clock.now())
        local, relay = await self._route(message.mail_from)
        queue_id = await self._inject(reply, mail_from="", local=local, relay=relay,
                                      source="vacation")
        log.info("sieve rcpt=%s vacation reply id=%s to <%s>", address, queue_id,
                 message.mail_from)

    async def _reject_notice(self, message: StoredMessage, content: bytes,
                             rejected: list[tuple[str, str]]) -> None:
        """A DSN to the sender for recipients whose script refused the message, when the
        SMTP reply could not say it (other recipients took the message)."""
        recipients = [DsnRecipient(final_recipient=address, action=DsnAction.FAILED,
                                   status="5.7.1", diagnostic=f"smtp; 550 5.7.1 {reason}")
                      for address, reason in rejected]
        dsn = build_dsn(reporting_mta=self._hostname, sender=message.mail_from,
                        recipients=recipients, original=content,
                        arrival=message.received_at, now=self._clock.now(),
                        ret=message.ret, envid=message.envid, smtputf8=message.smtputf8)
        local, relay = await self._route(message.mail_from)
        await self._inject(dsn, mail_from="", local=local, relay=relay, source="dsn")


def _unlooped(address: str, decision: filters.Decision,
              message: sieve.Message) -> filters.Decision:
    """A redirect of mail already delivered to `address` (its Delivered-To field) would loop:
    such redirects become a keep."""
    if not decision.redirects:
        return decision
    delivered = {value.strip().strip("<>").lower() for name, value in message.headers
                 if name.lower() == "delivered-to"}
    if address.lower() not in delivered:
        return decision
    log.warning("sieve rcpt=%s: redirect loop (Delivered-To), kept instead", address)
    return dataclasses.replace(decision, filings=decision.filings or (Filing(address),),
                               redirects=())
