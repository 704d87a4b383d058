"""The delivery engine: takes due items from the durable queue and delivers them.

Theory of operation. The queue is counted per (tenant, lane, destination domain); the
weighted-fair scheduler (`policy.fairness`) picks which queue goes next, skipping destinations
the throttle (`policy.throttle`) holds back. A pick claims a batch of that queue's items with a
lease (so a crashed node's items come back) and starts one delivery task: find the route
(a smarthost by `policy.routing`, or MX via `mta.routes`, narrowed by the domain's MTA-STS
policy), choose the source address from the IP pool (`policy.pools`), take the session the
previous batch to that place left open (`mta.session_cache`) or open one, and send each
message of the batch over it, DKIM-signed, with all of its recipients at that destination and
a VERP return path. Every recipient gets its own outcome; temporary failures are rescheduled by
`policy.retry`, permanent ones (and expired ones) owe the sender a DSN (`mta.notices`). In
sandbox mode (global or per tenant) nothing leaves: each message is filed in the capture
mailbox instead.

Mechanism only: every decision is a call into policy/ with typed answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import os
import random
import secrets
import socket
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.tags import parse_tag_list
from postoffice.clock import SYSTEM_CLOCK, Clock
from postoffice.config import Config
from postoffice.message import headers
from postoffice.message.dsn import Action, should_notify
from postoffice.message.envelope import Envelope, Recipient
from postoffice.mta.delivery_policy import fairness_config, routing, throttle_config
from postoffice.mta.mta_sts import MtaSts
from postoffice.mta.notices import Notices, messages_by_id, read_blob
from postoffice.mta.personalize import Personalizer, needs_per_recipient_content
from postoffice.mta.routes import Route, RouteError, Router
from postoffice.mta.session_cache import Parked, SessionCache
from postoffice.mta.smtp_client import SmtpClient, Timeouts
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.unsubscribe import Unsubscribes
from postoffice.pipeline.verp import ReturnPaths
from postoffice.policy import fairness, mta_sts
from postoffice.policy.bounces import classify_failure
from postoffice.policy.pools import Source, choose_source, pool_for
from postoffice.policy.retry import GiveUp, Outcome, next_attempt
from postoffice.policy.routing import Routing, Smarthost
from postoffice.policy.throttle import Throttle, ThrottleKey
from postoffice.proto.smtp.client_results import RecipientOutcome
from postoffice.storage.interfaces import (
    DeliveryOutcome,
    QueueItem,
    QueueKey,
    StorageError,
    Store,
    StoredMessage,
)
from postoffice.storage.suppressions import Bounce, SoftBounceRule, Suppression

log = logging.getLogger("postoffice.delivery")
TRANSACTIONAL = "transactional"

LEASE = 600.0
"""Seconds a claimed batch stays ours; a node that dies gives its items back after this."""
IDLE_POLL = 0.5
"""Seconds between looks at the queue when nothing wakes the engine."""
MIN_LOOK = 0.02
"""Seconds at least between two looks at the queue, however often the engine is woken."""
NOTICE_POLL = 1.0
"""Seconds between looks for owed DSNs, unless a delivery just made one owed."""
BATCH_READ = 256 * 1024
"""Messages up to this size are read for a whole batch at once."""
BULK_SHARE = 0.9
"""Bulk lanes may hold at most this share of the outbound connections: the rest is kept for
transactional mail, so a newsletter never makes a password reset wait for a free connection."""

StoreCall = Callable[..., Awaitable[Any]]
Signer = Callable[[bytes, str], bytes]
"""(message, sender domain) -> DKIM-Signature header fields to prepend (b"" for none)."""
Connect = Callable[..., Awaitable[SmtpClient]]


@dataclass(frozen=True)
class Destination:
    """Where one batch goes: the hosts to try and the throttle's name for them."""

    hosts: tuple[tuple[str, int], ...]
    site: str
    tls: str
    auth: tuple[str, str] | None = None
    throttled: bool = True
    """Per-destination limits apply (not to a smarthost: it is our own relay)."""
    server_names: tuple[str, ...] = ()
    """The MX host name of each entry of `hosts`: what a certificate must match ("verify")."""


class DeliveryEngine:
    def __init__(
        self,
        *,
        config: Config,
        run: StoreCall,
        intake: Intake,
        router: Router | None,
        clock: Clock = SYSTEM_CLOCK,
        signer: Signer | None = None,
        connect: Connect = SmtpClient.connect,
        timeouts: Timeouts | None = None,
        rng: random.Random | None = None,
        verp: ReturnPaths | None = None,
        mta_sts: MtaSts | None = None,
        personalizer: Personalizer | None = None,
        unsubscribe: Unsubscribes | None = None,
    ) -> None:
        self.config = config
        self._unsubscribe = unsubscribe
        self._personalizer = personalizer or Personalizer()
        self._verp = verp
        self._mta_sts = mta_sts
        self._run = run
        self._intake = intake
        self._router = router
        self._clock = clock
        self._signer = signer
        self._connect = connect
        self._timeouts = timeouts or Timeouts()
        self._rng = rng or random.Random()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.scheduler = fairness.Scheduler(fairness_config(config))
        self.throttle = Throttle(throttle_config(config), clock=clock)
        self.routing = routing(config)
        self._sites: dict[str, str] = {}
        self._in_flight: Counter[tuple[str, str]] = Counter()
        """Delivery tasks per (pool, site) from their pick until their session there ends."""
        self._slots = config.delivery.max_connections
        self._bulk_slots = max(1, int(self._slots * BULK_SHARE)) if self._slots > 1 else 1
        self._busy = 0
        self._busy_bulk = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._sessions = SessionCache()
        self.notices = Notices(config=config, run=run, intake=intake, clock=clock)
        self._notices_owed = True
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------

    def wake(self) -> None:
        """New mail is queued: look now instead of at the next poll."""
        self._wake.set()

    async def recover(self) -> int:
        """Give back the leases of dead engines on this host (a crash, kill -9): their items
        are delivered again now rather than when the leases run out. At most once more."""
        host = socket.gethostname()
        released = 0
        for owner in await self._run(_owners):
            name, _, rest = owner.partition(":")
            pid = rest.partition(":")[0]
            if name == host and pid.isdigit() and owner != self.owner and not _alive(int(pid)):
                released += await self._run(_release, owner)
        if released:
            log.warning("recovered %d queue item(s) left leased by a dead process", released)
        return released

    async def run(self) -> None:
        await self.recover()
        loop = asyncio.get_running_loop()
        notices_at = 0.0
        while not self._stopping:
            started = loop.time()
            wait = IDLE_POLL
            try:
                if self._busy < self._slots:
                    wait = await self._dispatch()
                if self._notices_owed or started >= notices_at:
                    self._notices_owed = False
                    notices_at = started + NOTICE_POLL
                    await self.notices.send_failures()
                    await self.notices.send_delays()
            except StorageError as exc:
                log.error("delivery paused: %s", exc)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, min(wait, IDLE_POLL)))
            except TimeoutError:
                pass
            # Wake-ups come per queued message under load: count the backlog at most this
            # often (a look is one GROUP BY over the due items).
            await asyncio.sleep(max(0.0, started + MIN_LOOK - loop.time()))

    async def stop(self, grace: float = 30.0) -> None:
        """Stop picking; let deliveries in flight finish (up to `grace`), give back leases."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
        await self._sessions.close_all()
        await self._run(_release, self.owner)

    # -- picking --------------------------------------------------------------------------

    async def _dispatch(self) -> float:
        """Start deliveries while there are free connections; seconds until worth looking again."""
        now = self._clock.now()
        backlog = await self._run(_backlog, now)
        seen = set()
        for entry in backlog:
            fair = _fair_key(entry.key)
            seen.add(fair)
            self.scheduler.set_count(fair, entry.due)
        for key in [k for k in self.scheduler.keys() if k not in seen]:
            self.scheduler.set_count(key, 0)
        wait = IDLE_POLL
        while self._busy < self._slots:
            pick = self.scheduler.pick(now, self._ready)
            if pick.key is None:
                wait = max(0.0, pick.wake_at - now) if pick.wake_at else IDLE_POLL
                break
            queue = QueueKey(pick.key.tenant, pick.key.lane, pick.key.destination)
            batch = self.config.delivery.messages_per_connection
            items = await self._run(_claim, queue, now, batch, LEASE, self.owner)
            if not items:
                # Another engine leased them after the backlog was counted: forget this queue
                # until the next count, or the same empty pick would repeat forever.
                self.scheduler.set_count(pick.key, 0)
                continue
            self.scheduler.set_count(pick.key, max(0, self.scheduler.count(pick.key) - len(items) + 1))
            self._busy += 1
            bulk = queue.lane != TRANSACTIONAL
            self._busy_bulk += bulk
            task = asyncio.get_running_loop().create_task(self._deliver(queue, items))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._done, bulk=bulk))
        return wait

    def _done(self, task: asyncio.Task[None], *, bulk: bool) -> None:
        self._tasks.discard(task)
        self._busy -= 1
        self._busy_bulk -= bulk
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
        self._wake.set()

    def _ready(self, key: fairness.QueueKey) -> float:
        """When the scheduler may pick this queue: the throttle's answer for its site.

        A smarthost is our own relay and sandbox mode sends nothing: neither is throttled. A
        queue holds one tenant's mail from any of its sending domains, so it is unthrottled only
        when the tenant's mail all goes to smarthosts (the tenant's or the global one); if some
        may go to the MX, the site's limits hold the whole queue back, at worst delaying a
        sending domain's smarthost mail, never overrunning the MX. Bulk waits while it holds its
        share of the connections."""
        if key.lane != TRANSACTIONAL and self._busy_bulk >= self._bulk_slots:
            return math.inf
        if self._sandboxed(key.tenant) or self.routing.relays_tenant(key.tenant):
            return 0.0
        known = key.destination in self._sites
        site = self._sites.get(key.destination, key.destination)
        pool = pool_for(self.config.pools, key.tenant, "")
        priority = key.lane == TRANSACTIONAL
        waits = self._waits(pool, site, priority)
        # The throttle counts a session once it is open; tasks picked before that count here.
        # Until a domain's site is known, one task finds it out.
        sessions = sum(self.throttle.limits(ThrottleKey(pool, address, site), priority=priority)
                       .max_connections for address in waits) if known else 1
        if self._in_flight[(pool, site)] >= sessions:
            return math.inf
        if self._sessions.idle_sources(site):
            return 0.0  # a parked session takes the batch: no new connection needed
        return min(waits.values()) if waits else 0.0

    def _sandboxed(self, tenant: str) -> bool:
        d = self.config.delivery
        return d.sandbox or tenant in d.sandbox_tenants

    def _waits(self, pool: str, site: str, priority: bool) -> dict[str, float]:
        """Per source address of `pool`: 0.0 if it may open a session to `site` now, else
        when it may. Limits count per (source IP, site)."""
        addresses = [a.address for a in self.config.pools[pool].addresses] if pool else [""]
        waits = {}
        for address in addresses:
            verdict = self.throttle.check_connect(ThrottleKey(pool, address, site), priority=priority)
            waits[address] = 0.0 if verdict.ok else verdict.at
        return waits

    # -- delivering one batch -------------------------------------------------------------

    def _deliver(self, key: QueueKey, items: list[QueueItem]) -> Coroutine[Any, Any, None]:
        """The delivery of a claimed batch, counted against its destination already now: the
        dispatch loop picks again before the task starts (see `_ready`)."""
        flight = _Flight(self._in_flight, pool_for(self.config.pools, key.tenant, ""),
                         self._sites.get(key.domain, key.domain))
        return _landing(flight, self._deliver_batch(key, items, flight))

    async def _deliver_batch(self, key: QueueKey, items: list[QueueItem], flight: _Flight) -> None:
        messages = await self._run(messages_by_id, sorted({i.message_id for i in items}))
        by_message: dict[str, list[QueueItem]] = defaultdict(list)
        for item in items:
            by_message[item.message_id].append(item)
        outcomes: list[DeliveryOutcome] = []
        try:
            if self._sandboxed(key.tenant):
                for message_id, recipients in by_message.items():
                    outcomes += await self._capture(messages[message_id], recipients)
                return
            # Messages of one queue may leave by different ways (their sending domains'
            # smarthosts, the tenant's, the MX): one session per way, one after the other.
            routes = _by_route(self.routing, key.tenant, messages, by_message)
            if None not in routes:
                flight.land()  # no session to the MX site
            for via, group in routes.items():
                try:
                    destination = await self._destination(key.domain, via)
                    if via is None:
                        flight.move(destination.site)
                except RouteError as exc:
                    flight.land()
                    if self.config.delivery.sandbox_unroutable:
                        log.info("captured: no route to %s (%s)", key.domain, exc)
                        for message_id, recipients in group.items():
                            outcomes += await self._capture(messages[message_id], recipients)
                        continue
                    outcomes += [self._failure(i, exc.status, f"{exc.status} {exc.text}",
                                               permanent=exc.permanent, outcome="dns")
                                 for batch in group.values() for i in batch]
                    continue
                outcomes += await self._session(key, destination, messages, group)
                if via is None:
                    flight.land()
        except Exception:
            # A bug must not strand the batch under its lease: retry what is undecided.
            log.exception("delivery of %d item(s) to %s failed", len(items), key.domain)
            decided = {o.item_id for o in outcomes}
            outcomes += [self._failure(i, "4.3.0", "4.3.0 local error during delivery",
                                       permanent=False, outcome="tempfail")
                         for i in items if i.id not in decided]
        finally:
            if outcomes:
                feedback = self._intake.feedback
                made = await self._run(_complete, outcomes, feedback.failures(items, outcomes),
                                       feedback.rule)
                for s in made:
                    log.info("suppressed %s for tenant %s: %s", s.address, s.tenant, s.reason)
            if any(o.notify_failure for o in outcomes):
                self._notices_owed = True
                self._wake.set()

    async def _destination(self, domain: str, via: Smarthost | None) -> Destination:
        """Where mail for `domain` goes: the smarthost `via`, else the domain's MX hosts."""
        d = self.config.delivery
        if via is not None:
            return Destination(((via.host, via.port),), f"smarthost:{via.host}:{via.port}",
                               via.tls, via.auth, throttled=False)
        if self._router is None:
            raise RouteError(domain, "4.4.3", "no DNS resolver configured")
        route: Route = await self._router.resolve_destination(domain)
        # A recipient domain with limits of its own is a destination apart from its MX site.
        site = domain if self.throttle.config.has_row(domain) else route.site
        self._sites[domain] = site
        tls = self.config.tls_policy.get(domain, d.tls_policy)
        hops = route.hops
        if self._mta_sts is not None:
            decision = mta_sts.apply(await self._mta_sts.policy(domain), route.hosts)
            if decision.blocked:  # RFC 8461 5.1: never deliver to an MX the policy does not name
                raise RouteError(domain, mta_sts.NO_MATCH_STATUS, f"MTA-STS: {decision.reason}")
            if decision.mismatched:
                log.warning("MTA-STS %s for %s: %s", decision.mode, domain, decision.reason)
            if decision.tls is not None:  # enforce: only named MX hosts, certificates verified
                hops = tuple(h for h in hops if h.mx in decision.hosts)
                tls = decision.tls
        return Destination(tuple((str(h.address), d.mx_port) for h in hops), site, tls,
                           server_names=tuple(h.mx for h in hops))

    async def _session(
        self,
        key: QueueKey,
        destination: Destination,
        messages: dict[str, StoredMessage],
        by_message: dict[str, list[QueueItem]],
    ) -> list[DeliveryOutcome]:
        first = messages[next(iter(by_message))]
        pool = pool_for(self.config.pools, key.tenant, first.mail_from.rpartition("@")[2])
        session_key = (destination.hosts, destination.tls, destination.auth, pool)
        parked = self._sessions.take(session_key)
        if parked is not None:  # the previous batch's session: no handshakes
            client, source_address, tkey = parked.client, parked.source, parked.tkey
            opened_at = parked.opened_at
        else:
            waits = self._waits(pool, destination.site, key.lane == TRANSACTIONAL)
            busy = frozenset(address for address, wait in waits.items() if wait)
            source = choose_source(self.config.pools, pool, self.config.server.hostname,
                                   self._rng,
                                   exclude=busy if destination.throttled else frozenset())
            source_address = source.address or ""
            tkey = ThrottleKey(pool, source_address, destination.site)
            opened, failure = await self._open(destination, source)
            if opened is None:
                reason = failure or "4.4.1 no host could be reached"
                self.throttle.record_reply(tkey, 421, reason, reason.split(" ", 1)[0])
                return [self._failure(i, reason.split(" ", 1)[0], reason, permanent=False,
                                      outcome="connection")
                        for batch in by_message.values() for i in batch]
            client, opened_at = opened, self._clock.now()
            self.throttle.connection_opened(tkey)
        # Small contents of the batch in one trip to the store's thread, not one per message;
        # large ones are read when their turn comes.
        stored: dict[str, bytes] = await self._run(_read_blobs, [
            messages[m].blob for m in by_message if m in messages and messages[m].size <= BATCH_READ
        ])
        outcomes: list[DeliveryOutcome] = []
        postponed: list[int] = []
        wait_until = 0.0
        priority = key.lane == TRANSACTIONAL
        try:
            for message_id, batch in _transactions(messages, by_message):
                message = messages[message_id]
                verdict = self.throttle.check_send(tkey, sent_on_connection=client.messages,
                                                   priority=priority)
                if destination.throttled and not verdict.ok:
                    postponed += [i.id for i in batch]
                    wait_until = max(wait_until, verdict.at)
                    continue
                if not client.usable:
                    failed = client.failure
                    text = failed.reason if failed else "session lost"
                    outcomes += [self._failure(i, "4.4.2", text, permanent=False,
                                               outcome="connection") for i in batch]
                    continue
                self.throttle.message_started(tkey)
                # the mailbox provider, by the MX site (none for a smarthost)
                provider = destination.site if destination.throttled else ""
                content, signed = await self._content(message, stored.get(message.blob), batch)
                envelope = Envelope(
                    mail_from=await self._envelope_sender(message, batch),
                    recipients=tuple(Recipient(i.recipient, i.notify, i.orcpt) for i in batch),
                    body=message.body, smtputf8=message.smtputf8, ret=message.ret,
                    envid=message.envid, size_hint=len(content),
                )
                result = await client.send(envelope, content)
                reply = result.reply
                self.throttle.record_reply(tkey, reply.code, reply.text, reply.status)
                outcomes += [dataclasses.replace(self._outcome(item, o), mx=client.host,
                                                 ip=source_address or "",
                                                 provider=provider, signed=signed)
                             for item, o in zip(batch, result.outcomes, strict=True)]
                log.info("delivery id=%s to=%s via=%s:%d from=%s result=%s", message_id,
                         ",".join(i.recipient for i in batch), client.host, client.port,
                         source_address or "-", reply.code)
        finally:
            if not self._park(client, session_key, tkey, source_address, destination, opened_at):
                await self._release_session(client, tkey)
            if postponed:
                now = self._clock.now()
                at = wait_until if wait_until < now + LEASE else now + 60.0
                await self._run(_postpone, postponed, at)
        return outcomes

    def _park(self, client: SmtpClient, session_key: tuple[object, ...], tkey: ThrottleKey,
              source: str, destination: Destination, opened_at: float) -> bool:
        """Keep the session for the next batch to the same place, when it has room left."""
        if self._stopping or not client.usable:
            return False
        if client.messages >= self.config.delivery.messages_per_connection:
            return False
        if destination.throttled and not self.throttle.check_send(
                tkey, sent_on_connection=client.messages, priority=True).ok:
            return False
        parked = Parked(client, session_key, destination.site, source, opened_at,
                        functools.partial(self._release_session, client, tkey), tkey=tkey)
        return self._sessions.park(parked, self._clock.now())

    async def _release_session(self, client: SmtpClient, tkey: ThrottleKey) -> None:
        self.throttle.connection_closed(tkey)
        await client.quit()

    async def _envelope_sender(self, message: StoredMessage, batch: list[QueueItem]) -> str:
        """MAIL FROM: the VERP return path naming the message and the transaction's first item
        when `[delivery] verp` is on, else the stored sender (which DSNs always use)."""
        if self._verp is None or not self.config.delivery.verp:
            return message.mail_from
        return await self._verp.sender(message.mail_from, message.id, batch[0].id)

    async def _open(
        self, destination: Destination, source: Source
    ) -> tuple[SmtpClient | None, str | None]:
        """The first host that takes a session, or the reason none did."""
        reason = None
        names = destination.server_names or tuple(h for h, _ in destination.hosts)
        for (host, port), name in zip(destination.hosts, names, strict=True):
            client = await self._connect(
                host, port, helo_name=source.ehlo, source_address=source.address,
                tls=destination.tls, tls_server_name=name, auth=destination.auth,
                timeouts=self._timeouts,
            )
            if client.usable:
                return client, None
            failure = client.failure
            reason = f"{failure.reply.status or '4.4.1'} {failure.reason}" if failure else None
            await client.close()
        return None, reason

    async def _content(self, message: StoredMessage, content: bytes | None = None,
                       items: Sequence[QueueItem] = ()) -> tuple[bytes, str]:
        """The message as it goes out: stored content (read now unless given), made for its
        recipient when that is one transaction's only one (mta/personalize.py), signed; and
        what signed it ("d=... s=... a=..." per signature, "" for none)."""
        if content is None:
            content = await self._run(read_blob, message.blob)
        assert content is not None
        if len(items) == 1:
            content = self._personalizer.content(message, items[0], content)
            if message.unsubscribe and self._unsubscribe is not None:
                content = await self._unsubscribe.fields(message, items[0]) + content
        signed = ""
        if self._signer is not None:
            try:
                fields = self._signer(content, message.mail_from.rpartition("@")[2])
            except (DkimError, OSError) as exc:
                log.warning("not signed: message %s: %s", message.id, exc)
            else:
                content, signed = fields + content, signatures(fields)
        return content, signed

    async def _capture(self, message: StoredMessage, items: Sequence[QueueItem]) -> list[DeliveryOutcome]:
        """Sandbox: file the message (as it would have been sent) in the capture mailbox."""
        mailbox = await self._run(capture_mailbox, self.config.delivery.sandbox_mailbox)
        content, _ = await self._content(message)
        header = "".join(f"X-Postoffice-Sandbox-Recipient: {i.recipient}\r\n" for i in items)
        await self._intake.inject(header.encode() + content, mail_from=message.mail_from,
                                  local=(mailbox,), source="sandbox")
        now = self._clock.now()
        return [DeliveryOutcome(i.id, "delivered", f"captured in {mailbox}", now) for i in items]

    # -- outcomes -------------------------------------------------------------------------

    def _outcome(self, item: QueueItem, result: RecipientOutcome) -> DeliveryOutcome:
        reply = result.reply
        text = " ".join(str(p) for p in (reply.code, reply.status, reply.text) if p)
        if result.kind == "delivered":
            return DeliveryOutcome(item.id, "delivered", text, self._clock.now())
        outcome: Outcome = "connection" if not result.remote else "tempfail"
        if result.stage in ("tls", "starttls"):
            outcome = "tls"
        return self._failure(item, result.status, text, permanent=result.kind == "failed",
                             outcome=outcome)

    def _failure(
        self, item: QueueItem, status: str, text: str, *, permanent: bool, outcome: Outcome
    ) -> DeliveryOutcome:
        now = self._clock.now()
        reason, hard = classify_failure(status, text)  # the reason class and hard/soft
        if not permanent:
            decision = next_attempt(item.created_at, item.attempts + 1, outcome, now,
                                    lifetime=self.config.delivery.lifetime, rand=self._rng.random)
            if not isinstance(decision, GiveUp):
                return DeliveryOutcome(item.id, "deferred", text, now, next_attempt_at=decision.at,
                                       reason=reason)
            text = f"{decision.status} {decision.text}; last error: {text}"
        notify = should_notify(Action.FAILED, item.notify, item.mail_from)
        return DeliveryOutcome(item.id, "failed", text, now, notify_failure=notify,
                               reason=reason, hard=hard and permanent)


def signatures(fields: bytes) -> str:
    """What the signer's DKIM-Signature fields say of themselves, for the `signed` event."""
    tags = [parse_tag_list(value) for name, value in headers.parse_fields(fields)
            if name.lower() == "dkim-signature"]
    return "; ".join(f"d={t.get('d', '')} s={t.get('s', '')} a={t.get('a', '')}"
                     for t in tags)


def _fair_key(key: QueueKey) -> fairness.QueueKey:
    return fairness.QueueKey(key.tenant, key.lane, key.domain)


class _Flight:
    """One delivery task in the engine's count per (pool, site): from its pick until its
    session to the site ends, or until it is clear that it needs none."""

    def __init__(self, counts: Counter[tuple[str, str]], pool: str, site: str) -> None:
        self._counts = counts
        self._key: tuple[str, str] | None = (pool, site)
        counts[self._key] += 1

    def move(self, site: str) -> None:
        """The destination's site is known now (the first delivery to a domain)."""
        if self._key is not None and self._key[1] != site:
            pool = self._key[0]
            self.land()
            self._key = (pool, site)
            self._counts[self._key] += 1

    def land(self) -> None:
        if self._key is not None:
            self._counts[self._key] -= 1
            if self._counts[self._key] <= 0:
                del self._counts[self._key]
            self._key = None


async def _landing(flight: _Flight, delivery: Awaitable[None]) -> None:
    try:
        await delivery
    finally:
        flight.land()


def _transactions(
    messages: dict[str, StoredMessage], by_message: dict[str, list[QueueItem]]
) -> list[tuple[str, list[QueueItem]]]:
    """The SMTP transactions of a session: one per message with all of its recipients there,
    or one per recipient for a message whose content is made per recipient."""
    out: list[tuple[str, list[QueueItem]]] = []
    for message_id, batch in by_message.items():
        message = messages.get(message_id)
        if message is not None and needs_per_recipient_content(message):
            out += [(message_id, [item]) for item in batch]
        else:
            out.append((message_id, batch))
    return out


def _by_route(
    routing: Routing,
    tenant: str,
    messages: dict[str, StoredMessage],
    by_message: dict[str, list[QueueItem]],
) -> dict[Smarthost | None, dict[str, list[QueueItem]]]:
    """The batch's messages by the smarthost they go to (None: the MX), in batch order."""
    groups: dict[Smarthost | None, dict[str, list[QueueItem]]] = defaultdict(dict)
    for message_id, items in by_message.items():
        message = messages.get(message_id)
        sender_domain = message.mail_from.rpartition("@")[2] if message else ""
        groups[routing.smarthost_for(tenant, sender_domain)][message_id] = items
    return groups


# Store calls made on the committer's thread.

def _backlog(store: Store, now: float) -> Any:
    return store.queue_backlog(now)


def _claim(store: Store, key: QueueKey, now: float, limit: int, lease: float, owner: str) -> Any:
    return store.claim(key, now=now, limit=limit, lease=lease, owner=owner)


def _complete(store: Store, outcomes: list[DeliveryOutcome], bounces: list[Bounce],
              rule: SoftBounceRule) -> list[Suppression]:
    return store.complete(outcomes, bounces, rule)


def _release(store: Store, owner: str) -> int:
    return store.release_leases(owner)






def capture_mailbox(store: Store, configured: str) -> str:
    """Where sandbox captures go: `[delivery] sandbox_mailbox`, else postmaster@ the first
    local domain."""
    if configured:
        return configured
    domains = store.list_domains()
    if not domains:
        raise StorageError("sandbox mode needs a local domain for its capture mailbox")
    return f"postmaster@{domains[0].name}"


def _postpone(store: Store, ids: list[int], at: float) -> None:
    store.postpone(ids, at)






def _owners(store: Store) -> list[str]:
    return store.lease_owners()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_blobs(store: Store, digests: list[str]) -> dict[str, bytes]:
    return {digest: store.blobs.read(digest) for digest in dict.fromkeys(digests)}



