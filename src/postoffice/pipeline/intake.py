"""The one way in: every message accepted over SMTP passes here, whatever the listener.

The SMTP adapter asks this service about each envelope step and hands it the content; the
service answers with replies and makes accepted messages durable through the group committer.
Unauthenticated sessions are the MX (local delivery only, but for the targets of aliases and
SRS addresses: forwarding); authenticated ones are submission (relay anywhere, MSA checks on the
content)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from postoffice.clock import Clock
from postoffice.config import Config
from postoffice.message import trace
from postoffice.message.envelope import Recipient
from postoffice.message.mime import decode_words
from postoffice.pipeline import filters
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.draft import Draft
from postoffice.pipeline.feedback import Feedback
from postoffice.pipeline.forwarding import Forwarding
from postoffice.pipeline.greylisting import Greylisting
from postoffice.pipeline.inbound import InboundChecks, Judgement
from postoffice.pipeline.session import SessionInfo, Transaction
from postoffice.pipeline.sieve_step import SieveStep
from postoffice.pipeline.submit import msa_inspector
from postoffice.pipeline.unsubscribe import Unsubscribes, gets_fields
from postoffice.pipeline.verp import ReturnPaths, bounce_header
from postoffice.policy import categories, sending_limits, srs
from postoffice.policy.lanes import choose_lane
from postoffice.policy.recipients import Route, decide_recipient, split_address
from postoffice.policy.senders import may_send_as
from postoffice.policy.sending_limits import LimitReached
from postoffice.policy.verp import VerpToken
from postoffice.proto.smtp.reply import Reply
from postoffice.storage.ids import new_message_id
from postoffice.storage.interfaces import (
    Acceptance,
    BlobStore,
    PendingBlob,
    StorageError,
    StoredMessage,
)
from postoffice.storage.suppressions import Suppression, address_key

log = logging.getLogger("postoffice.intake")

TEMPFAIL = Reply(451, "4.3.0", "Temporary local problem, please try again later")
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
NOT_OWNER = Reply(553, "5.7.1", "Sender address not owned by the authenticated user")
NULL_SENDER_REFUSED = Reply(553, "5.7.1", "Null sender not allowed for submission")
MAX_ALIAS_DEPTH = 8
"""How deep aliases of aliases are followed."""
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full, try again later")
APART = Reply(452, "4.5.3", "Too many recipients: bounces go in a transaction of their own")
"""Bounces carry a trace field the other recipients must not get: the client sends them later."""


class Intake:
    def __init__(
        self,
        *,
        config: Config,
        clock: Clock,
        blobs: BlobStore,
        directory: DirectoryCache,
        commit: Callable[[Any, Acceptance], Awaitable[None]],
        on_queued: Callable[[], None] | None = None,
        verp: ReturnPaths | None = None,
        checks: InboundChecks | None = None,
        greylist: Greylisting | None = None,
        forwarding: Forwarding | None = None,
        unsubscribe: Unsubscribes | None = None,
    ) -> None:
        self.on_queued = on_queued
        """Called after a message with remote recipients is committed (wakes delivery)."""
        self.verp = verp
        self.checks = checks
        """The MX's checks on mail from the outside (None: none are run)."""
        """VERP return paths: RCPT to one files a bounce (None: they are unknown users)."""
        self.greylist = greylist
        """Greylisting of local recipients on the MX (None: off)."""
        self.forwarding = forwarding
        """Aliases and SRS addresses (None: neither is known)."""
        self.unsubscribe = unsubscribe
        """One-click unsubscribe: mail to `unsubscribe+<token>@<local domain>` unsubscribes
        (None: such addresses are unknown users)."""
        self._config = config
        self._clock = clock
        self._blobs = blobs
        self._directory = directory
        self._commit = commit
        self.hostname = config.server.hostname
        self.sieve = SieveStep(directory=directory, clock=clock, hostname=self.hostname,
                               spam_threshold=config.inbound.junk_score,
                               route=self.route_address, inject=self.inject)
        """Each local recipient's Sieve script, run on every message they get."""
        self.feedback = Feedback(config.feedback, call=directory.call, clock=clock,
                                 token=self._return_path_token)
        """Bounces and complaints that come back: events and suppressions."""
        self._trusted = [ipaddress.ip_network(n, strict=False) for n in config.relay.trusted_networks]

    def _return_path_token(self, address: str) -> VerpToken | None:
        return self.verp.token(address) if self.verp is not None else None

    def is_trusted(self, client_ip: str) -> bool:
        """Whether a client address is in `[relay] trusted_networks`."""
        if not self._trusted:
            return False
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    async def mail_from(self, session: SessionInfo, address: str) -> Reply:
        if session.auth_identity is None:
            return SENDER_OK
        if address == "":
            return SENDER_OK if self._config.submission.allow_null_sender else NULL_SENDER_REFUSED
        return SENDER_OK if await self._may_use(session.auth_identity, address) else NOT_OWNER

    def session_started(self, session: SessionInfo) -> None:
        """A client connected: start what can run while it talks (reverse DNS, blocklists)."""
        if self.checks is not None:
            self.checks.connected(session)

    def transaction_started(self, session: SessionInfo, txn: Transaction) -> None:
        """MAIL FROM was accepted: start what can run while the client goes on (SPF)."""
        if self.checks is not None:
            self.checks.start(session, txn)

    async def _may_use(self, login: str, address: str) -> bool:
        user = await self._directory.user(login)
        allowed = user.allowed_senders if user else ()
        return may_send_as(
            login, address, allowed, domain_senders=self._config.submission.domain_senders
        )

    async def verify(self, argument: str) -> Reply:
        """VRFY when enabled: confirm local mailboxes, never reveal anything about others."""
        address = argument.strip().removeprefix("<").removesuffix(">").strip()
        _, domain = split_address(address)
        try:
            if domain and await self._directory.is_local_domain(domain):
                if await self._directory.user(address) is not None:
                    return Reply(250, "2.1.5", f"<{address.lower()}>")
                return Reply(550, "5.1.1", "No such user here")
        except StorageError:
            return TEMPFAIL
        return Reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery")

    async def rcpt_to(
        self,
        session: SessionInfo,
        txn: Transaction,
        address: str,
        params: dict[str, str | None],
        source_route: bool,
    ) -> Reply:
        _, domain = split_address(address)
        try:
            local_domain = bool(domain) and await self._directory.is_local_domain(domain)
            local_user = local_domain and await self._directory.user(address) is not None
            targets = await self._expand(address) if local_domain and not local_user else None
        except StorageError:
            return TEMPFAIL
        token = None
        if local_domain and not local_user and targets is None and self.verp:
            token = self.verp.token(address)
        leaving = None
        if local_domain and not local_user and targets is None and token is None \
                and self.unsubscribe is not None:
            leaving = self.unsubscribe.mailto_token(address)
        complaints = local_domain and await self.feedback.is_complaints_address(address)
        decision = decide_recipient(
            address,
            source_route=source_route,
            local_domain=local_domain,
            local_user=local_user,
            may_relay=session.may_relay,
            return_path=token is not None or (complaints and targets is None),
            forward=targets is not None,
            unsubscribe=leaving is not None,
        )
        if decision.route is not Route.REFUSE and _mixes(txn, token is not None):
            return APART
        if complaints and decision.route is not Route.REFUSE:
            txn.feedback = True
        if decision.route is Route.BOUNCE:
            refusal = await self._file_bounce(txn, token)
            if refusal is not None:
                return refusal
        elif decision.route is Route.UNSUBSCRIBE:
            assert leaving is not None
            if leaving not in txn.unsubscribes:
                txn.unsubscribes.append(leaving)
        elif decision.route is Route.FORWARD:
            assert targets is not None
            deferred = await self._greylisted(session, txn, address)
            if deferred is not None:
                return deferred
            local_targets, remote = targets
            txn.local.extend(t for t in local_targets if t not in txn.local)
            copies = txn.forwards.setdefault(domain, [])
            copies.extend(Recipient(t) for t in remote if t not in {c.address for c in copies})
        elif decision.route is Route.LOCAL:
            full = await self._over_quota(address, _declared_size(txn))
            if full is not None:
                return full
            deferred = await self._greylisted(session, txn, address)
            if deferred is not None:
                return deferred
            if address.lower() not in txn.local:
                txn.local.append(address.lower())
        elif decision.route is Route.RELAY:
            notify = params.get("NOTIFY")
            txn.relay.append(
                Recipient(
                    address=address,
                    notify=tuple(notify.upper().split(",")) if notify else (),
                    orcpt=params.get("ORCPT"),
                )
            )
        return Reply(decision.code, decision.status, decision.text)

    async def _over_quota(self, address: str, size: int) -> Reply | None:
        """452 4.2.2 when the mailbox is full or `size` more octets would not fit."""
        try:
            quota = await self._directory.quota(address)
        except StorageError:
            return TEMPFAIL
        if quota is not None and quota.limit is not None and (
                quota.used >= quota.limit or quota.used + size > quota.limit):
            log.info("refused rcpt=%s: mailbox full (%d of %d octets, %d more)", address,
                     quota.used, quota.limit, size)
            return MAILBOX_FULL
        return None

    async def _expand(self, address: str) -> tuple[list[str], list[str]] | None:
        """(local mailboxes, remote addresses) an alias or SRS address of ours goes on to;
        None when it is neither (or nothing is left of it). Raises StorageError."""
        if self.forwarding is None:
            return None
        local: list[str] = []
        remote: list[str] = []
        if srs.is_srs(address):
            original = self.forwarding.reverse(address)
            if original is None:
                return None
            await self._resolve(original, local, remote, set(), MAX_ALIAS_DEPTH)
        else:
            alias = await self._directory.alias(address)
            if alias is None:
                return None
            await self._resolve(alias.address, local, remote, set(), MAX_ALIAS_DEPTH)
        return (local, remote) if local or remote else None

    async def _resolve(self, address: str, local: list[str], remote: list[str], seen: set[str],
                       depth: int) -> None:
        """Add where `address` delivers to: a mailbox, an alias's targets (followed), or a remote
        address; local addresses that are neither are dropped with a log line."""
        key = address.lower()
        if key in seen:
            return
        seen.add(key)
        _, domain = split_address(address)
        if not domain or not await self._directory.is_local_domain(domain):
            remote.append(address)
        elif await self._directory.user(address) is not None:
            local.append(key)
        elif (alias := await self._directory.alias(address)) is not None and depth > 0:
            for target in alias.targets:
                await self._resolve(target, local, remote, seen, depth - 1)
        else:
            log.warning("alias target %s is no mailbox here; not delivered", address)

    async def _greylisted(self, session: SessionInfo, txn: Transaction, address: str) -> Reply | None:
        """451 4.7.1 when greylisting defers this local recipient (MX mail from outside only)."""
        if self.greylist is None:
            return None
        outside = self.checks.applies(session) if self.checks else self.greylist.applies(session)
        return await self.greylist.check(session.client_ip, txn.mail_from, address) if outside else None

    async def _file_bounce(self, txn: Transaction, token: VerpToken | None) -> Reply | None:
        """Add the bounce mailbox to the transaction for `token` (None: the complaints
        address); a reply when it cannot be."""
        try:
            mailbox = (await self._bounce_mailbox()).lower()
            exists = await self._directory.user(mailbox) is not None
        except StorageError:
            return TEMPFAIL
        if not exists:
            log.error("bounce mailbox %s does not exist ([delivery] bounce_mailbox)", mailbox)
            return TEMPFAIL
        if mailbox not in txn.local:
            txn.local.append(mailbox)
        if token is not None and token not in txn.bounces:
            txn.bounces.append(token)
        return None

    async def _bounce_mailbox(self) -> str:
        if self.verp is not None:
            return await self.verp.mailbox()
        if self._config.delivery.bounce_mailbox:
            return self._config.delivery.bounce_mailbox
        domains = await self._directory.call("list_domains")
        if not domains:
            raise StorageError("no local domain for the bounce mailbox")
        return f"postmaster@{domains[0].name}"

    def start_data(self, session: SessionInfo, txn: Transaction) -> tuple[str, float, Draft]:
        """(queue id, timestamp, draft) for the content about to arrive."""
        now = self._clock.now()
        queue_id = new_message_id(now)
        recipients = txn.local + [r.address for r in txn.relay]
        received = trace.received(
            helo=session.helo,
            client_ip=session.client_ip,
            by=self.hostname,
            protocol=trace.with_protocol(
                session.esmtp,
                bool(session.tls),
                session.auth_identity is not None,
                "SMTPUTF8" in txn.params,
            ),
            queue_id=queue_id,
            timestamp=now,
            recipient=recipients[0] if len(recipients) == 1 else None,
            tls=session.tls,
            auth=session.auth_identity,
        )
        inspect = None
        if session.auth_identity is not None:
            login = session.auth_identity
            inspect = msa_inspector(
                queue_id=queue_id,
                hostname=self.hostname,
                timestamp=now,
                may_use=self._sync_may_use(login),
            )
        checked = self.checks is not None and self.checks.applies(session)
        draft = Draft(
            self._blobs.writer(),
            b"".join(map(bounce_header, txn.bounces)) + received,
            inspect=inspect,
            max_header_size=self._config.smtp.max_header_size,
            rewrite=self.checks.rewrite_head if checked and self.checks else None,
        )
        return queue_id, now, draft

    def _sync_may_use(self, login: str) -> Callable[[str], bool]:
        # The user was looked up at MAIL FROM, so the cache answers without I/O; the header
        # check runs inside Draft.write, which is synchronous.
        user = self._directory.cached_user(login)
        allowed = user.allowed_senders if user else ()
        domain_senders = self._config.submission.domain_senders

        def may_use(address: str) -> bool:
            return may_send_as(login, address, allowed, domain_senders=domain_senders)

        return may_use

    async def route_address(self, address: str) -> tuple[tuple[str, ...], tuple[Recipient, ...]]:
        """(local, relay) for one address made by postoffice itself (a DSN's recipient); an SRS
        address of ours goes to the sender it stands for."""
        _, domain = split_address(address)
        if domain and await self._directory.is_local_domain(domain):
            if self.forwarding is not None and srs.is_srs(address):
                original = self.forwarding.reverse(address)
                if original is not None and original.lower() != address.lower():
                    return await self.route_address(original)
            if await self._directory.user(address) is not None:
                return (address.lower(),), ()
        return (), (Recipient(address),)

    async def inject(self, content: bytes, **fields: Any) -> str:
        """Accept a message postoffice made itself (a DSN, a sandbox capture) or got through
        the API: same durable path as mail from the network. `fields` as `stage` takes them.
        Returns the queue id; raises StorageError."""
        pending, acceptance = self.stage(content, **fields)
        return await self.commit_staged(pending, acceptance)

    def stage(
        self,
        content: bytes,
        *,
        mail_from: str,
        local: tuple[str, ...] = (),
        relay: tuple[Recipient, ...] = (),
        source: str = "local",
        lane: str = "transactional",
        tenant: str = "default",
        smtputf8: bool = False,
        subject: str = "",
        category: str = "",
        metadata: str = "{}",
        header_id: str = "",
        not_before: float | None = None,
        unsubscribe: bool = False,
        unsubscribe_decided: bool | None = None,
        track_opens: bool = False,
        track_clicks: bool = False,
        suppressed: tuple[tuple[str, Suppression], ...] = (),
    ) -> tuple[PendingBlob, Acceptance]:
        """A message postoffice accepts itself, spooled and described but not yet committed
        (the caller commits it, alone or with others, or discards the blob). `unsubscribe`
        asks for List-Unsubscribe fields; `unsubscribe_decided`, when given, is the decision
        already made (the same for a whole batch). Raises StorageError."""
        now = self._clock.now()
        writer = self._blobs.writer()
        try:
            writer.write(content)
            pending = writer.finish()
        except OSError as exc:
            writer.abort()
            raise StorageError(f"cannot spool a local message: {exc}") from exc
        if unsubscribe_decided is None:
            unsubscribe_decided = gets_fields(content, lane=lane, asked=unsubscribe,
                                              source=source)
        message = StoredMessage(
            id=new_message_id(now), blob=pending.digest, size=pending.size, received_at=now,
            source=source, mail_from=mail_from, client_ip="127.0.0.1", helo=self.hostname,
            auth_identity=None, body="7BIT" if content.isascii() else "8BITMIME",
            smtputf8=smtputf8, subject=subject, category=category, metadata=metadata,
            header_id=header_id, unsubscribe=unsubscribe_decided, track_opens=track_opens,
            track_clicks=track_clicks,
        )
        return pending, Acceptance(message, local, relay, lane, tenant, not_before=not_before,
                                   suppressed=suppressed)

    async def commit_staged(
        self, pending: PendingBlob, acceptance: Acceptance,
        via: Callable[[PendingBlob, Acceptance], Awaitable[None]] | None = None,
    ) -> str:
        """Commit a staged message (through `via`, a committer of the caller's, or ours).
        The committer owns the blob from here: it discards it if the commit fails, and a
        caller cancelled while waiting may still see it committed, so it must not discard
        it itself. Returns the queue id; raises StorageError."""
        await (via or self._commit)(pending, acceptance)
        self.injected([acceptance])
        return acceptance.message.id

    def discard(self, pending: PendingBlob) -> None:
        """Give up a staged message's blob (it was not committed)."""
        self._blobs.discard(pending)

    def injected(self, acceptances: Sequence[Acceptance]) -> None:
        """After staged messages are committed: wake delivery, log them."""
        if any(a.relay for a in acceptances) and self.on_queued is not None:
            self.on_queued()
        for a in acceptances:
            m = a.message
            log.info("injected id=%s source=%s from=<%s> local=%d relay=%d size=%d",
                     m.id, m.source, m.mail_from, len(a.local), len(a.relay), m.size)

    async def end_data(
        self,
        session: SessionInfo,
        txn: Transaction,
        queue_id: str,
        timestamp: float,
        draft: Draft,
    ) -> Reply:
        junk = False
        prefix = b""
        judgement = None
        if self.checks is not None and self.checks.applies(session) and draft.complete():
            judgement = await self.checks.judge(session, txn, draft.content())
            verdict = judgement.verdict
            if verdict.action in ("reject", "tempfail"):
                draft.abort()
                code, status, text = verdict.reply.split(" ", 2)
                log.info("refused listener=%s client=%s from=<%s>: %s", session.listener,
                         session.client_ip, txn.mail_from, verdict.reason)
                return Reply(int(code), status, text)
            junk, prefix = verdict.action == "junk", judgement.header
        forwards = {d: r for d, r in txn.forwards.items() if r}
        try:
            scripts = await self.sieve.scripts(txn.local)
        except StorageError:
            draft.abort()
            return TEMPFAIL
        whole = draft.complete() and bool(forwards or scripts)
        content = prefix + draft.content() if whole else b""
        filtering = self.sieve.decide(
            scripts, content, mail_from=txn.mail_from, timestamp=timestamp,
            spam_score=judgement.spam_score if judgement else None) if whole else {}
        refusal = _refusal(txn, forwards, filtering)
        if refusal is not None:
            draft.abort()
            log.info("refused listener=%s client=%s from=<%s>: %s %s", session.listener,
                     session.client_ip, txn.mail_from, refusal.status, refusal.text)
            return refusal
        returned = draft.content() if _reports(session, txn) and draft.complete() else None
        pending = draft.finish(prefix)
        if pending is None:
            assert draft.refusal is not None
            log.info("refused listener=%s client=%s from=<%s>: %s", session.listener,
                     session.client_ip, txn.mail_from, draft.refusal.text)
            return draft.refusal
        full = self._quota_refusal(txn, forwards, pending.size)
        if full is not None:
            self._blobs.discard(pending)
            return full
        category = categories.from_fields(draft.fields or []) if txn.relay else ""
        if category is None:
            self._blobs.discard(pending)
            return Reply(554, "5.6.0", f"{categories.FIELD}: once, {categories.RULE}")
        sending = await self._sending(session, txn, category)
        if isinstance(sending, Reply):
            self._blobs.discard(pending)
            return sending
        tenant, relay, suppressed = sending
        params = txn.params
        message = StoredMessage(
            id=queue_id,
            blob=pending.digest,
            size=pending.size,
            received_at=timestamp,
            source=session.listener,
            mail_from=txn.mail_from,
            client_ip=session.client_ip,
            helo=session.helo,
            auth_identity=session.auth_identity,
            body=(params.get("BODY") or "7BIT").upper(),
            smtputf8="SMTPUTF8" in params,
            ret=(params.get("RET") or "").upper() or None,
            envid=params.get("ENVID"),
            subject=log_subject(draft.fields or []),
            category=category,
            # for matching complaints about mail we send (indexed: only where it is needed)
            header_id=header_id(draft.fields or []) if txn.relay else "",
        )
        remote = txn.relay or forwards
        lane = choose_lane(draft.fields or [], {}, category or None) if remote \
            else "transactional"
        if txn.relay and gets_fields(draft.fields or [], lane=lane, asked=False,
                                     source=session.listener):
            message = dataclasses.replace(message, unsubscribe=True)
        acceptance = Acceptance(
            message=message, local=tuple(a for a in txn.local if a not in filtering),
            relay=relay, lane=lane, tenant=tenant, junk=junk,
            filed=tuple(f for decision in filtering.values() for f in decision.filings),
            suppressed=suppressed,
        )
        if txn.unsubscribes and self.unsubscribe is not None:
            try:  # before the rest is stored: the client may send it all again
                await self.unsubscribe.unsubscribe(txn.unsubscribes, "mailto")
            except StorageError:
                self._blobs.discard(pending)
                return TEMPFAIL
        if junk and forwards:
            log.info("id=%s is Junk: not forwarded to %d address(es)", queue_id,
                     sum(map(len, forwards.values())))
            forwards = {}
        try:
            # The forwarded and redirected copies first: should the rest fail, the client
            # sends it all again.
            for domain, recipients in forwards.items():
                await self._forward(message, content, domain, recipients, lane, judgement)
            for address, decision in filtering.items():
                if decision.redirects and not junk:
                    await self._redirect(message, content, address, decision.redirects, lane,
                                         judgement)
            if acceptance.local or acceptance.filed or acceptance.relay or suppressed:
                await self._commit(pending, acceptance)
            else:
                self._blobs.discard(pending)
        except (StorageError, OSError):
            # Disk full, I/O error: nothing was acknowledged, the client retries.
            self._blobs.discard(pending)
            return TEMPFAIL
        if remote and self.on_queued is not None:
            self.on_queued()
        if filtering:
            await self.sieve.after(message, content, scripts, filtering, junk)
        if returned is not None:
            await self._feedback(txn, returned)
        log.info(
            "accepted id=%s listener=%s client=%s from=<%s> local=%d relay=%d size=%d auth=%s"
            "%s", queue_id, session.listener, session.client_ip, txn.mail_from, len(txn.local),
            len(relay), pending.size, session.auth_identity or "-",
            f" tenant={tenant} suppressed={len(suppressed)}" if suppressed or tenant != "default"
            else "",
        )
        return Reply(250, "2.0.0", f"Ok: queued as {queue_id}")

    async def _sending(self, session: SessionInfo, txn: Transaction, category: str,
                       ) -> Reply | tuple[str, tuple[Recipient, ...],
                                          tuple[tuple[str, Suppression], ...]]:
        """What a message we relay is sent as: the tenant (the one owning the envelope
        sender's domain, else the authenticated user's; "default" for neither), the remote
        recipients left after the tenant's suppression list (those suppressed get an event,
        as through the API; an unsubscribe from `category` counts), and the tenant's sending
        limits: 451 4.7.1 past them (the client tries again later)."""
        relay = tuple(txn.relay)
        if not relay:
            return "default", relay, ()
        try:
            tenant = "default"
            for address in (txn.mail_from, session.auth_identity or ""):
                _, domain = split_address(address)
                found = await self._directory.tenant_of(domain) if domain else None
                if found is not None:
                    tenant = found
                    break
            suppressed: tuple[tuple[str, Suppression], ...] = ()
            if await self._directory.has_suppressions(tenant):
                barred: dict[str, Suppression] = await self._directory.call(
                    "suppressed", tenant, [r.address for r in relay], category)
                if barred:
                    suppressed = tuple((r.address, s) for r in relay
                                       if (s := barred.get(address_key(r.address))))
                    relay = tuple(r for r in relay if address_key(r.address) not in barred)
            reached = await self._limit_reached(tenant, len(relay))
        except StorageError:
            return TEMPFAIL
        if reached is not None:
            log.info("refused from=<%s> tenant=%s: %s", txn.mail_from, tenant, reached.message)
            return Reply(451, "4.7.1", f"Sending limit: {reached.message}")
        return tenant, relay, suppressed

    async def _limit_reached(self, tenant: str, adding: int) -> LimitReached | None:
        found = await self._directory.tenant(tenant)
        if found is None or (found.hourly_limit is None and found.daily_limit is None):
            return None
        now = self._clock.now()
        hour = await self._directory.call("queued_since", tenant, sending_limits.hour_start(now))
        day = await self._directory.call("queued_since", tenant, sending_limits.day_start(now))
        return sending_limits.check(hourly=found.hourly_limit, daily=found.daily_limit,
                                    used_hour=hour, used_day=day, adding=adding, now=now)

    def _quota_refusal(self, txn: Transaction, forwards: dict[str, list[Recipient]],
                       size: int) -> Reply | None:
        """452 4.2.2 when the message goes only to local mailboxes and fits in none of them
        (with other recipients it is delivered: one message may go over the quota)."""
        if txn.relay or forwards or not txn.local:
            return None
        for address in txn.local:
            quota = self._directory.cached_quota(address)
            if quota is None or quota.limit is None or quota.used + size <= quota.limit:
                return None
        return MAILBOX_FULL

    async def _feedback(self, txn: Transaction, content: bytes) -> None:
        """Record the bounce or complaint a committed message reports (only logged when it
        fails: the message is stored either way)."""
        try:
            await self.feedback.received(content, tokens=txn.bounces, local=txn.local,
                                         to_complaints=txn.feedback)
        except Exception:
            log.exception("feedback in a message from <%s> not recorded", txn.mail_from)

    async def _redirect(self, message: StoredMessage, content: bytes, address: str,
                        targets: tuple[str, ...], lane: str, judgement: Judgement | None) -> None:
        """Queue the copies a Sieve redirect sends on, marked Delivered-To the user (loops
        stop there). Raises StorageError or OSError."""
        data = f"Delivered-To: {address}\r\n".encode() + content
        local: list[str] = []
        relay: list[Recipient] = []
        for target in targets:
            here, there = await self.route_address(target)
            local.extend(here)
            relay.extend(there)
        domain = address.rpartition("@")[2]
        if relay and self.forwarding is not None and message.mail_from:
            await self._forward(message, data, domain, relay, lane, judgement)
            relay = []
        if local or relay:
            await self._queue_copy(message, data, message.mail_from, tuple(local), tuple(relay),
                                   lane)
        log.info("sieve rcpt=%s redirected id=%s to %d address(es)", address, message.id,
                 len(targets))

    async def _queue_copy(self, message: StoredMessage, data: bytes, mail_from: str,
                          local: tuple[str, ...], relay: tuple[Recipient, ...],
                          lane: str) -> StoredMessage:
        """Commit `data` as a message of its own; raises StorageError or OSError."""
        writer = self._blobs.writer()
        try:
            writer.write(data)
            pending = writer.finish()
        except OSError:
            writer.abort()
            raise
        copy = dataclasses.replace(
            message, id=new_message_id(self._clock.now()), blob=pending.digest, size=pending.size,
            mail_from=mail_from, unsubscribe=False)
        try:
            await self._commit(pending, Acceptance(copy, local, relay, lane))
        except BaseException:
            self._blobs.discard(pending)
            raise
        if relay and self.on_queued is not None:
            self.on_queued()
        return copy

    async def _forward(self, message: StoredMessage, content: bytes, domain: str,
                       recipients: list[Recipient], lane: str, judgement: Judgement | None) -> None:
        """Queue the copy forwarded through `domain`: a message of its own, ARC-sealed, with an
        SRS envelope sender in `domain`. Raises StorageError or OSError."""
        assert self.forwarding is not None
        seal = self.forwarding.seal(content, domain, authres=judgement.authres if judgement else None,
                                    chain=judgement.chain if judgement else None)
        copy = await self._queue_copy(message, seal + content,
                                      self.forwarding.sender(message.mail_from, domain), (),
                                      tuple(recipients), lane)
        log.info("forwarded id=%s as id=%s via %s from=<%s> to %d address(es) sealed=%s",
                 message.id, copy.id, domain, copy.mail_from, len(recipients), bool(seal))


def _refusal(txn: Transaction, forwards: dict[str, list[Recipient]],
             decisions: dict[str, filters.Decision]) -> Reply | None:
    """550 5.7.1 with the script's reason when every recipient's script rejected the message
    (RFC 5429 2.1: refuse in the protocol when possible)."""
    if txn.relay or forwards or not txn.local:
        return None
    reasons = [decisions[a].reject if a in decisions else None for a in txn.local]
    if any(reason is None for reason in reasons):
        return None
    return Reply(550, "5.7.1", str(reasons[0]))


def _reports(session: SessionInfo, txn: Transaction) -> bool:
    """Whether a message may report on earlier mail (a bounce or complaint to read): to a
    return path or the complaints address, or with a null sender, from outside."""
    return session.auth_identity is None and bool(
        txn.bounces or txn.feedback or (txn.mail_from == "" and txn.local))


def header_id(fields: list[tuple[str, str]]) -> str:
    """The Message-ID field's <id> ("" when none)."""
    for name, value in fields:
        if name.lower() == "message-id":
            found = value.strip().split()
            return found[0][:300] if found and found[0].startswith("<") else ""
    return ""


def log_subject(fields: list[tuple[str, str]]) -> str:
    """The Subject for the message log: decoded, unfolded, at most 300 characters."""
    for name, value in fields:
        if name.lower() == "subject":
            return " ".join(decode_words(value).split())[:300]
    return ""


def _declared_size(txn: Transaction) -> int:
    """The SIZE the client announced at MAIL FROM (0 when none or not a number)."""
    value = txn.params.get("SIZE") or ""
    return int(value) if value.isdigit() and len(value) < 16 else 0


def _mixes(txn: Transaction, bounce: bool) -> bool:
    """Whether one more recipient would put a bounce and other mail in one transaction."""
    if bounce:
        return bool(txn.relay or txn.forwards) or (bool(txn.local) and not txn.bounces)
    return bool(txn.bounces)
