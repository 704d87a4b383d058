"""Per-destination throttles and response-driven shaping for outbound delivery.

**Keys.** Limits are configured per (IP pool, destination) and enforced per (source IP,
destination), because that is what mailbox providers count. The destination key is the MX
*site* (`policy.providers`: every domain whose MX is Google's is the site "google") or, for
unknown MX hosts, the registrable domain of the MX. This module takes the site as a plain string.

**Limits** (`DestinationLimits`): concurrent connections, messages per connection, and messages
per minute and per hour, each a sliding window (60 buckets; conservative: a message counts until
its whole bucket has left the window, so no true 60 s / 3600 s window ever holds more than the
limit). Rates count message transactions started (MAIL FROM), accepted or not.

Built-in defaults, per source IP. No provider publishes inbound limits, so these are
deliberately below what a warmed, reputable IP gets through without 421s: a fresh install should
never be the reason for a block. Raise them (per pool, in configuration) once the provider's
postmaster tools show a good reputation; warm-up holds new IPs lower still. Lookup, first found:
the pool's row for the site, the configured row, the built-in row, the pool's default, the
default.

| site | conns | msgs/conn | /min | /hour | why |
|---|---|---|---|---|---|
| google (Gmail, Workspace) | 10 | 50 | 300 | 10,000 | takes parallel sessions well; limits by reputation (4.7.28), not a fixed rate |
| microsoft (Outlook, Hotmail, 365) | 5 | 20 | 100 | 3,000 | throttles concurrency and young IPs early (4.7.650, 4.7.500 "server busy") |
| yahoo (Yahoo, AOL) | 5 | 20 | 100 | 3,000 | defers volume spikes per IP ([TSS04], [TS01]) |
| apple (iCloud) | 3 | 20 | 60 | 1,500 | no public guidance; kept low until reputation is known |
| gmx (GMX, Web.de) | 3 | 20 | 60 | 1,500 | no public numbers; strict with unknown IPs: few sessions |
| yandex | 3 | 20 | 60 | 1,500 | no public numbers; kept low |
| mailru (Mail.ru) | 3 | 20 | 60 | 1,500 | no public numbers; kept low |
| anything else | 5 | 25 | 120 | 3,600 | Postfix's initial concurrency (5); the hourly cap spares small servers. Gateways serving many domains (one site each) may need a row of their own |

**Priority reserve.** Non-priority traffic (bulk) may use only `1 - reserve` (default 90%) of a
destination's connections and rates; the rest is kept for priority lanes, so a bulk backlog that
fills Gmail's minute cannot make a password reset wait for the window to roll over.

**Several delivery processes** each run a throttle of their own; each enforces its `share`
(1/N) of every connection and rate limit, so that together they keep the limits.

**Response-driven shaping** (`policy.shaping` has the rule table): *Slow down* acts on that destination for that source IP only (`slowed_down`): rate and
connection limits are halved (down to 1/16), and sending pauses for 1 minute, doubling on each
repeat within an hour of the last pause (1, 2, 4, ... up to 60 minutes). Replies arriving while
already paused are the same incident and do not count again. After the pause, every minute with
an accepted message gives back a tenth of the full rate (`succeeded`), so a halved rate is whole
again after five minutes of successful sending; an hour without trouble forgets the strikes. *Blocked* changes nothing here: it is the signal reputation
monitoring acts on (the rule name says which block).

**How the engine calls it.** `Throttle.check_connect` before opening a connection,
`check_send` before each message on it (both answer `Verdict(ok, at, reason)`: "no, not before
`at`"), `connection_opened`/`connection_closed`, `message_started` at MAIL FROM, and
`record_reply` with the reply that ends each message (2xx = delivered) and with any
connection-level failure (greeting, EHLO). `prune` now and then drops idle state.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from postoffice.clock import Clock
from postoffice.policy.shaping import NO_SHAPING, Shaping, Signal, classify_reply

# --------------------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class DestinationLimits:
    """What one source IP may do to one destination."""

    max_connections: int
    """Concurrent SMTP sessions."""
    messages_per_connection: int
    """Message transactions per session before it is closed and a new one opened."""
    per_minute: int | None
    """Messages started in any 60 seconds; None = unlimited."""
    per_hour: int | None
    """Messages started in any 3600 seconds; None = unlimited."""

    def __post_init__(self) -> None:
        for name in ("max_connections", "messages_per_connection", "per_minute", "per_hour"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")


PROVIDER_LIMITS: Mapping[str, DestinationLimits] = MappingProxyType({
    "google": DestinationLimits(10, 50, 300, 10_000),
    "microsoft": DestinationLimits(5, 20, 100, 3_000),
    "yahoo": DestinationLimits(5, 20, 100, 3_000),
    "apple": DestinationLimits(3, 20, 60, 1_500),
    "gmx": DestinationLimits(3, 20, 60, 1_500),
    "yandex": DestinationLimits(3, 20, 60, 1_500),
    "mailru": DestinationLimits(3, 20, 60, 1_500),
})
"""Built-in limits of the big mailbox providers, by site (see the table above)."""

DEFAULT_LIMITS = DestinationLimits(5, 25, 120, 3_600)
"""Limits of every destination without a row of its own."""


def _site_table(sites: Mapping[str, DestinationLimits]) -> Mapping[str, DestinationLimits]:
    return {site.lower().rstrip("."): limits for site, limits in sites.items()}


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """One IP pool's overrides."""

    sites: Mapping[str, DestinationLimits] = field(default_factory=dict)
    """Site or domain -> limits for this pool, before the global table."""
    default: DestinationLimits | None = None
    """This pool's "anything else" row; None = the global one."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", _site_table(self.sites))


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    """How hard a "slow down" reply hits, and how fast we recover."""

    pause: float = 60.0
    """Seconds of the first pause; doubled on each repeat."""
    max_pause: float = 3600.0
    """Longest pause."""
    min_factor: float = 1 / 16
    """Rates and connections are never cut below this fraction."""
    recovery_step: float = 0.1
    """Fraction of the full rate given back per recovery interval with an accepted message."""
    recovery_interval: float = 60.0
    """Seconds between two recovery steps."""
    strike_memory: float = 3600.0
    """A slow-down reply this long after the previous pause ended starts counting from 1."""


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """All throttle settings. Lookup, first found: the pool's row for the site, the configured
    row, the built-in provider row, the pool's default, the default."""

    sites: Mapping[str, DestinationLimits] = field(default_factory=dict)
    """Site or domain -> limits, configured (override or extend the built-in providers)."""
    providers: Mapping[str, DestinationLimits] = field(default_factory=lambda: PROVIDER_LIMITS)
    """The built-in provider rows; {} turns them off."""
    default: DestinationLimits = DEFAULT_LIMITS
    """Limits of every other destination."""
    pools: Mapping[str, PoolLimits] = field(default_factory=dict)
    """Per-pool overrides, by pool name."""
    reserve: float = 0.1
    """Fraction of every limit kept for priority lanes (0 <= reserve < 1)."""
    backoff: BackoffConfig = BackoffConfig()
    share: float = 1.0
    """This engine's share of every connection and rate limit (0 < share <= 1): 1/N when N
    delivery processes each run an engine, so that together they keep the limits. Never below
    1 connection and 1 message per window, so a limit lower than N is exceeded."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", _site_table(self.sites))
        object.__setattr__(self, "providers", _site_table(self.providers))
        if not 0.0 <= self.reserve < 1.0:
            raise ValueError(f"reserve must be in [0, 1), not {self.reserve}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], not {self.share}")

    def has_row(self, name: str) -> bool:
        """Whether `name` has a configured row, globally or in any pool. A recipient domain
        with one is a destination of its own, counted apart from its MX site."""
        name = name.lower().rstrip(".")
        return name in self.sites or any(name in p.sites for p in self.pools.values())

    def limits_for(self, pool: str, site: str) -> DestinationLimits:
        site = site.lower().rstrip(".")
        overrides = self.pools.get(pool)
        if overrides is not None and site in overrides.sites:
            return overrides.sites[site]
        if site in self.sites:
            return self.sites[site]
        if site in self.providers:
            return self.providers[site]
        if overrides is not None and overrides.default is not None:
            return overrides.default
        return self.default


DEFAULT_THROTTLE_CONFIG = ThrottleConfig()


def _scale(value: int | None, factor: float) -> int | None:
    return None if value is None else max(1, math.floor(value * factor + 1e-9))


@functools.lru_cache(maxsize=4096)
def scaled(limits: DestinationLimits, factor: float) -> DestinationLimits:
    """`limits` with connections and rates multiplied by `factor` (never below 1)."""
    if factor >= 1.0:
        return limits
    return DestinationLimits(
        max_connections=max(1, math.floor(limits.max_connections * factor + 1e-9)),
        messages_per_connection=limits.messages_per_connection,
        per_minute=_scale(limits.per_minute, factor),
        per_hour=_scale(limits.per_hour, factor),
    )


# ------------------------------------------------------------------------------------- backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    """The shaping state of one (source IP, destination)."""

    factor: float = 1.0
    """Multiplier on rates and connections: 1 = full speed."""
    paused_until: float = 0.0
    """No new connection or message before this time."""
    strikes: int = 0
    """Slow-down incidents in a row (each less than `strike_memory` after the last pause)."""
    last_strike: float = 0.0
    last_raise: float = 0.0
    """When the factor last grew (or the pause ended)."""

    def at_rest(self, now: float, config: BackoffConfig) -> bool:
        """Nothing worth remembering: not paused, and no slow-down for `strike_memory` (a
        destination left alone that long starts again at full speed)."""
        return now >= self.paused_until and (
            self.strikes == 0 or now - self.paused_until >= config.strike_memory
        )


def slowed_down(state: Backoff, now: float, config: BackoffConfig) -> Backoff:
    """After a slow-down reply: halve the factor and pause, longer on repeats. A reply while
    already paused belongs to the same incident (sessions opened before it) and changes nothing."""
    if now < state.paused_until:
        return state
    recent = state.strikes > 0 and now - state.paused_until < config.strike_memory
    strikes = state.strikes + 1 if recent else 1
    pause = min(config.max_pause, config.pause * 2 ** (strikes - 1))
    return Backoff(
        factor=max(config.min_factor, state.factor / 2),
        paused_until=now + pause,
        strikes=strikes,
        last_strike=now,
        last_raise=now + pause,
    )


def succeeded(state: Backoff, now: float, config: BackoffConfig) -> Backoff:
    """After an accepted message: give back one recovery step per interval, up to full speed."""
    if (
        state.factor >= 1.0
        or now < state.paused_until
        or now - state.last_raise < config.recovery_interval
    ):
        return state
    factor = min(1.0, round(state.factor + config.recovery_step, 9))
    return replace(state, factor=factor, last_raise=now)


# ------------------------------------------------------------------------------------- windows


class SlidingWindow:
    """Events in the last `span` seconds, counted in `slots` buckets. Conservative: an event
    counts until its whole bucket is older than `span`, so no true window holds more."""

    __slots__ = ("_buckets", "_total", "slots", "span", "width")

    def __init__(self, span: float, slots: int = 60) -> None:
        self.span = span
        self.slots = slots
        self.width = span / slots
        self._buckets: deque[list[int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        oldest = math.floor(now / self.width) - self.slots
        while self._buckets and self._buckets[0][0] < oldest:
            self._total -= self._buckets.popleft()[1]

    def count(self, now: float) -> int:
        self._expire(now)
        return self._total

    def add(self, now: float, n: int = 1) -> None:
        self._expire(now)
        index = math.floor(now / self.width)
        if self._buckets and self._buckets[-1][0] >= index:  # same bucket (or clock went back)
            self._buckets[-1][1] += n
        else:
            self._buckets.append([index, n])
        self._total += n

    def ready_at(self, now: float, limit: int) -> float:
        """When one more event keeps the window within `limit` (`now` if it already does)."""
        self._expire(now)
        excess = self._total - limit + 1
        if excess <= 0:
            return now
        for index, n in self._buckets:
            excess -= n
            if excess <= 0:
                return (index + 1 + self.slots) * self.width
        return math.inf  # unreachable for limit >= 1


# ------------------------------------------------------------------------------------ throttle


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """One source IP talking to one destination."""

    pool: str
    """The IP pool the source address belongs to (chooses the limits)."""
    source_ip: str
    site: str
    """Destination key: the MX site ("google") or the destination's registrable domain."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The throttle's answer: may we, and if not, not before when."""

    ok: bool
    at: float
    """`now` when ok; else the earliest time it may change (inf: when a session ends)."""
    reason: str = "ok"
    """"ok", "paused", "connections", "per-connection", "per-minute" or "per-hour"."""


class _State:
    __slots__ = ("backoff", "connections", "hour", "minute")

    def __init__(self) -> None:
        self.connections = 0
        self.minute = SlidingWindow(60.0)
        self.hour = SlidingWindow(3600.0)
        self.backoff = Backoff()


class Throttle:
    """Counters and backoff per (source IP, destination); limits from the config by pool."""

    def __init__(self, config: ThrottleConfig = DEFAULT_THROTTLE_CONFIG, *, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._states: dict[tuple[str, str], _State] = {}

    def _state(self, key: ThrottleKey) -> _State:
        ident = (key.source_ip, key.site.lower().rstrip("."))
        state = self._states.get(ident)
        if state is None:
            state = self._states[ident] = _State()
        return state

    def limits(self, key: ThrottleKey, *, priority: bool = False) -> DestinationLimits:
        """The limits in force now: configured, times this engine's share and the backoff
        factor, minus the reserve for non-priority traffic."""
        factor = self._state(key).backoff.factor * self.config.share
        if not priority:
            factor *= 1.0 - self.config.reserve
        return scaled(self.config.limits_for(key.pool, key.site), factor)

    def backoff(self, key: ThrottleKey) -> Backoff:
        return self._state(key).backoff

    def connections(self, key: ThrottleKey) -> int:
        return self._state(key).connections

    def check_connect(self, key: ThrottleKey, *, priority: bool = False) -> Verdict:
        """May a new session to this destination be opened from this source IP now?"""
        state = self._state(key)
        now = self._clock.now()
        if now < state.backoff.paused_until:
            return Verdict(False, state.backoff.paused_until, "paused")
        limits = self.limits(key, priority=priority)
        if state.connections >= limits.max_connections:
            return Verdict(False, math.inf, "connections")
        return self._rates(state, limits, now)

    def check_send(
        self, key: ThrottleKey, *, sent_on_connection: int = 0, priority: bool = False
    ) -> Verdict:
        """May one more message start on a session that has carried `sent_on_connection`?
        "per-connection" means: not on this session; close it and ask `check_connect`."""
        state = self._state(key)
        now = self._clock.now()
        if now < state.backoff.paused_until:
            return Verdict(False, state.backoff.paused_until, "paused")
        limits = self.limits(key, priority=priority)
        if sent_on_connection >= limits.messages_per_connection:
            return Verdict(False, now, "per-connection")
        return self._rates(state, limits, now)

    @staticmethod
    def _rates(state: _State, limits: DestinationLimits, now: float) -> Verdict:
        if limits.per_minute is not None:
            at = state.minute.ready_at(now, limits.per_minute)
            if at > now:
                return Verdict(False, at, "per-minute")
        if limits.per_hour is not None:
            at = state.hour.ready_at(now, limits.per_hour)
            if at > now:
                return Verdict(False, at, "per-hour")
        return Verdict(True, now)

    def connection_opened(self, key: ThrottleKey) -> None:
        self._state(key).connections += 1

    def connection_closed(self, key: ThrottleKey) -> None:
        state = self._state(key)
        state.connections = max(0, state.connections - 1)

    def message_started(self, key: ThrottleKey) -> None:
        """A message transaction began (MAIL FROM sent): it counts against the rates."""
        state = self._state(key)
        now = self._clock.now()
        state.minute.add(now)
        state.hour.add(now)

    def record_reply(self, key: ThrottleKey, code: int, text: str, status: str = "") -> Shaping:
        """Feed a reply that ends a message (2xx: delivered) or a session-level failure; slows
        down or recovers this destination for this IP. The answer tells reputation monitoring
        about blocks."""
        state = self._state(key)
        now = self._clock.now()
        if 200 <= code < 300:
            state.backoff = succeeded(state.backoff, now, self.config.backoff)
            return NO_SHAPING
        shaping = classify_reply(code, text, status)
        if Signal.SLOW_DOWN in shaping.signal:
            state.backoff = slowed_down(state.backoff, now, self.config.backoff)
        return shaping

    def prune(self) -> int:
        """Forget destinations with no sessions, no recent messages and no backoff; returns how
        many were dropped. Call it every few minutes."""
        now = self._clock.now()
        idle = [
            ident
            for ident, s in self._states.items()
            if s.connections == 0
            and s.hour.count(now) == 0
            and s.backoff.at_rest(now, self.config.backoff)
        ]
        for ident in idle:
            del self._states[ident]
        return len(idle)
