"""Weighted-fair choice of the next outbound queue to serve.

Due outbound messages wait in queues keyed by (tenant, lane, destination). The delivery engine
keeps the items in the database and tells the `Scheduler` only how many each queue holds
(`add`, `remove`, `set_count`); `pick` names the queue whose next item should start now. It
decides in three levels:

1. **Lanes, by weight** (stride scheduling; default transactional:bulk = 10:1). Every lane has
   a *pass*; the ready lane with the lowest pass is served and its pass grows by 1/weight. A
   lane that becomes non-empty starts at the current virtual time (the pass last served), never
   below, so it cannot bank credit while idle; a lane skipped because none of its destinations
   is ready is raised to the virtual time too, so it cannot bank credit while throttled. Result:
   while both lanes are busy, bulk gets exactly 1 pick in 11; a transactional message arriving
   behind any bulk backlog is picked next (once a bulk item has been served since the last
   transactional one, the transactional lane's pass is below bulk's); bulk is slowed, never
   starved.
2. **Tenants inside a lane** (deficit round robin, quantum = tenant weight, default 1): a
   tenant with a million queued messages gets its turn, then every other tenant gets theirs.
3. **Destinations inside (tenant, lane)** (round robin): a slow or throttled destination does
   not hold up the tenant's other destinations.

Readiness comes from the caller: `ready(key)` answers the earliest time the key's destination
may take one more message (from the throttle, for the tenant's IP pool; `now` or earlier means
ready, `math.inf` means "when a session ends"). Queues that are not ready are skipped without
losing their turn, and when nothing is ready `pick` says when to look again (`Pick.wake_at`).

Cost of one pick: O(number of non-empty queues) at worst (each `ready` is called at most once
per pick, and the scan stops at the first ready queue), O(1) typically. No I/O, no clock:
`now` is passed in.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True, slots=True, order=True)
class QueueKey:
    """One outbound queue."""

    tenant: str
    lane: str
    destination: str
    """The throttle's destination key: MX site or domain."""


def _default_lane_weights() -> Mapping[str, int]:
    return {"transactional": 10, "bulk": 1}


@dataclass(frozen=True)
class FairnessConfig:
    lane_weights: Mapping[str, int] = field(default_factory=_default_lane_weights)
    """Lane -> weight: the share of picks a busy lane gets against other busy lanes."""
    default_lane_weight: int = 1
    """Weight of a lane not in `lane_weights`."""
    tenant_weights: Mapping[str, int] = field(default_factory=dict)
    """Tenant -> weight inside every lane (picks per round)."""
    default_tenant_weight: int = 1

    def __post_init__(self) -> None:
        weights = [*self.lane_weights.values(), *self.tenant_weights.values()]
        weights += [self.default_lane_weight, self.default_tenant_weight]
        if any(w < 1 for w in weights):
            raise ValueError("weights must be positive integers")


DEFAULT_FAIRNESS_CONFIG = FairnessConfig()

ReadyFn = Callable[[QueueKey], float]
"""The earliest time a queue's destination may take one more message (<= now: ready)."""


@dataclass(frozen=True, slots=True)
class Pick:
    """`key`: serve this queue's next item now; or None, and `wake_at` says when something
    becomes ready (math.inf: nothing will by time alone; wait for a new item or a session)."""

    key: QueueKey | None
    wake_at: float = math.inf


class _Tenant:
    __slots__ = ("credit", "destinations", "weight")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.credit = 0
        self.destinations: OrderedDict[str, None] = OrderedDict()


class _Lane:
    __slots__ = ("name", "pass_", "stride", "tenants", "weight")

    def __init__(self, name: str, weight: int) -> None:
        self.name = name
        self.weight = weight
        self.stride = Fraction(1, weight)
        self.pass_ = Fraction(0)
        self.tenants: OrderedDict[str, _Tenant] = OrderedDict()


class Scheduler:
    """Counts per queue and the fairness state; see the module docstring."""

    def __init__(self, config: FairnessConfig = DEFAULT_FAIRNESS_CONFIG) -> None:
        self.config = config
        self._counts: dict[QueueKey, int] = {}
        self._lanes: dict[str, _Lane] = {}
        self._vtime = Fraction(0)
        self._total = 0

    # ------------------------------------------------------------------------------ counts

    def __len__(self) -> int:
        """Items waiting in all queues."""
        return self._total

    def count(self, key: QueueKey) -> int:
        return self._counts.get(key, 0)

    def keys(self) -> Iterator[QueueKey]:
        """The non-empty queues."""
        return iter(self._counts)

    def add(self, key: QueueKey, n: int = 1) -> None:
        """`n` items of `key` became due."""
        self.set_count(key, self.count(key) + n)

    def remove(self, key: QueueKey, n: int = 1) -> None:
        """`n` items of `key` left without being picked (deleted, held, expired)."""
        self.set_count(key, max(0, self.count(key) - n))

    def set_count(self, key: QueueKey, n: int) -> None:
        """Set the number of due items of `key` (at start, or to correct a drift)."""
        if n < 0:
            raise ValueError(f"negative count for {key}")
        before = self._counts.get(key, 0)
        self._total += n - before
        if n and not before:
            self._counts[key] = n
            self._activate(key)
        elif n:
            self._counts[key] = n
        elif before:
            del self._counts[key]
            self._deactivate(key)

    def _activate(self, key: QueueKey) -> None:
        lane = self._lanes.get(key.lane)
        if lane is None:
            weight = self.config.lane_weights.get(key.lane, self.config.default_lane_weight)
            lane = self._lanes[key.lane] = _Lane(key.lane, weight)
        if not lane.tenants:
            lane.pass_ = max(lane.pass_, self._vtime)
        tenant = lane.tenants.get(key.tenant)
        if tenant is None:
            weight = self.config.tenant_weights.get(key.tenant, self.config.default_tenant_weight)
            tenant = lane.tenants[key.tenant] = _Tenant(weight)
        tenant.destinations[key.destination] = None

    def _deactivate(self, key: QueueKey) -> None:
        lane = self._lanes[key.lane]
        tenant = lane.tenants[key.tenant]
        del tenant.destinations[key.destination]
        if not tenant.destinations:
            del lane.tenants[key.tenant]

    # -------------------------------------------------------------------------------- pick

    def pick(self, now: float, ready: ReadyFn) -> Pick:
        """The queue to serve now (its count goes down by one), or when to ask again."""
        earliest = math.inf
        active = sorted(
            (lane for lane in self._lanes.values() if lane.tenants),
            key=lambda lane: (lane.pass_, -lane.weight, lane.name),
        )
        skipped: list[_Lane] = []
        for lane in active:
            for tenant_name, tenant in lane.tenants.items():
                for destination in tenant.destinations:
                    key = QueueKey(tenant_name, lane.name, destination)
                    at = ready(key)
                    if at <= now:
                        self._serve(lane, tenant_name, tenant, key, skipped)
                        return Pick(key, now)
                    earliest = min(earliest, at)
            skipped.append(lane)
        return Pick(None, earliest)

    def _serve(
        self, lane: _Lane, tenant_name: str, tenant: _Tenant, key: QueueKey, skipped: list[_Lane]
    ) -> None:
        self._vtime = lane.pass_
        for other in skipped:  # throttled lanes do not bank credit
            other.pass_ = max(other.pass_, lane.pass_)
        lane.pass_ += lane.stride
        if tenant.credit <= 0:
            tenant.credit += tenant.weight
        tenant.credit -= 1
        if tenant.credit <= 0:
            lane.tenants.move_to_end(tenant_name)
        tenant.destinations.move_to_end(key.destination)
        self.set_count(key, self._counts[key] - 1)
