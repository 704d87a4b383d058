"""WebhookDispatcher: tenants' events to the URLs they subscribed, one dispatcher per install
(in the first delivery process, beside the delivery engine, on a store thread of its own).

Each turn (at least every second, and when a request ends): record the attempts that ended
(one store call), fan the events logged since the last turn out into deliveries (one call per
1,000 events), claim as many due deliveries as there are free request slots (one call; each is
leased for the request timeout and a margin, so a dispatcher that dies mid-request only delays
it) and start one task per request. A request is a POST with the signed JSON body (policy/
webhooks.py), bounded by `[webhooks] timeout` in all; 2xx is delivered, anything else is tried
again with backoff (`first_retry`, 30 s, doubling up to an hour) until `retry_for` after the
event, then it has failed. Nothing here is on the path of mail: a slow or dead endpoint only
holds its own request slots."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from postoffice import __version__
from postoffice.clock import Clock
from postoffice.config import WebhookSettings
from postoffice.mta.webhook_http import HttpSender, SendError
from postoffice.policy import webhooks as policy
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import StorageError, Store
from postoffice.storage.webhooks import WebhookAttempt, WebhookJob, WebhookResult

log = logging.getLogger(__name__)

Send = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]
"""POST a body to a URL with these headers; the answer's status, or SendError."""
StoreCall = Callable[..., Awaitable[Any]]
"""`await run(fn, *args)` runs `fn(store, *args)` on a store thread."""

POLL: Final = 1.0
"""Seconds between turns when nothing wakes the dispatcher."""
FAN_OUT_BATCH: Final = 1000
FAN_OUT_ROUNDS: Final = 20
"""Batches fanned out per turn at most (the rest waits for the next turn)."""
LEASE_MARGIN: Final = 30.0
"""Seconds a claim outlives the request timeout."""
PURGE_EVERY: Final = 3600.0


class WebhookDispatcher:
    def __init__(self, *, settings: WebhookSettings, run: StoreCall, clock: Clock,
                 send: Send) -> None:
        self.settings = settings
        self._run = run
        self._clock = clock
        self._send = send
        self._backoff = policy.Backoff(first=settings.first_retry,
                                       retry_for=settings.retry_for)
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[WebhookResult] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._purge_at = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.step()
            except StorageError as exc:
                log.error("webhooks paused: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL)

    async def step(self) -> None:
        """One turn: record ended attempts, fan out new events, start due deliveries."""
        self._wake.clear()
        await self._record()
        now = self._clock.now()
        for _ in range(FAN_OUT_ROUNDS):
            if await self._run(_fan_out, now, FAN_OUT_BATCH) < FAN_OUT_BATCH:
                break
        free = self.settings.concurrency - len(self._tasks)
        if free > 0 and not self._stopping:
            lease = self.settings.timeout + LEASE_MARGIN
            jobs: list[WebhookJob] = await self._run(_claim, now, free, lease)
            for job in jobs:
                task = asyncio.create_task(self._attempt(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if now >= self._purge_at:
            self._purge_at = now + PURGE_EVERY
            await self._run(_purge, now - self.settings.keep_deliveries)

    async def settle(self) -> None:
        """Wait for the requests in flight and record their attempts."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        await self._record()

    async def stop(self, grace: float = 5.0) -> None:
        """Start nothing more; give requests in flight up to `grace` seconds, then record
        what ended (a request cut short is sent again when its lease runs out)."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(StorageError):
            await self._record()

    async def _record(self) -> None:
        results, self._results = self._results, []
        if results:
            try:
                await self._run(_finish, results)
            except BaseException:
                self._results = results + self._results
                raise

    async def _attempt(self, job: WebhookJob) -> None:
        loop = asyncio.get_running_loop()
        at = self._clock.now()
        started = loop.time()
        payload = policy.body(job.delivery_id, job.webhook_id, dataclasses.asdict(job.event))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"postoffice/{__version__} (webhooks)",
            policy.SIGNATURE_HEADER: policy.signature(job.secret, int(at), payload),
            policy.EVENT_HEADER: job.event.type,
        }
        code: int | None = None
        try:
            code = await asyncio.wait_for(self._send(job.url, payload, headers),
                                          timeout=self.settings.timeout)
            error = "" if 200 <= code < 300 else f"answered {code}"
        except TimeoutError:
            error = f"no answer within {self.settings.timeout:g} s"
        except SendError as exc:
            error = str(exc)
        except Exception as exc:  # a bug of the sender must not keep the delivery leased
            log.exception("webhook %d: sending failed", job.webhook_id)
            error = f"{type(exc).__name__}: {exc}"
        attempt = WebhookAttempt(at, code, error[:500], round(loop.time() - started, 3))
        if not error:
            result = WebhookResult(job.delivery_id, attempt, "delivered")
        else:
            retry = self._backoff.next_attempt(job.created_at, job.attempts + 1,
                                               self._clock.now())
            result = WebhookResult(job.delivery_id, attempt,
                                   "failed" if retry is None else "pending", retry)
            log.info("webhook %d delivery %d to %s: %s%s", job.webhook_id, job.delivery_id,
                     job.url, error, "; giving up" if retry is None else "")
        self._results.append(result)
        self._wake.set()


def _fan_out(store: Store, now: float, limit: int) -> int:
    return store.fan_out_events(now, limit)


def _claim(store: Store, now: float, limit: int, lease: float) -> list[WebhookJob]:
    return store.claim_webhook_deliveries(now, limit, lease)


def _finish(store: Store, results: list[WebhookResult]) -> None:
    store.finish_webhook_deliveries(results)


def _purge(store: Store, before: float) -> int:
    return store.purge_webhook_deliveries(before)


def start(settings: WebhookSettings, store_factory: Callable[[], Store],
          clock: Clock) -> Callable[[float], Awaitable[None]]:
    """Run a dispatcher on its own store thread and HTTP pool in the running loop; returns
    the coroutine function that stops it (with a grace period in seconds)."""
    committer = GroupCommitter(store_factory)
    committer.start()
    sender = HttpSender(allow_private=settings.allow_private,
                        max_connections=settings.concurrency)
    dispatcher = WebhookDispatcher(settings=settings, run=committer.run, clock=clock,
                                   send=sender)
    task = asyncio.get_running_loop().create_task(dispatcher.run())

    async def stop(grace: float) -> None:
        await dispatcher.stop(grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.close()
        await committer.close()

    return stop
