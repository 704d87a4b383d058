import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.policy.fairness import FairnessConfig, Pick, QueueKey, Scheduler
from postoffice.policy.throttle import Throttle, ThrottleConfig, ThrottleKey

T0 = 1_700_000_000.0
BULK = QueueKey("acme", "bulk", "google")
TRANS = QueueKey("shop", "transactional", "google")


def always(key: QueueKey) -> float:
    return -math.inf


def picks(s: Scheduler, n: int, now: float = T0) -> list[QueueKey]:
    out = []
    for _ in range(n):
        key = s.pick(now, always).key
        assert key is not None
        out.append(key)
    return out


# ------------------------------------------------------------------------------------- counts


def test_empty_scheduler() -> None:
    s = Scheduler()
    assert s.pick(T0, always) == Pick(None, math.inf)
    assert len(s) == 0 and list(s.keys()) == []


def test_counts() -> None:
    s = Scheduler()
    s.add(BULK, 100_000)
    s.add(TRANS)
    s.add(TRANS, 2)
    assert len(s) == 100_003 and s.count(TRANS) == 3
    s.remove(TRANS, 10)
    assert s.count(TRANS) == 0 and set(s.keys()) == {BULK}
    s.set_count(BULK, 5)
    assert len(s) == 5
    assert picks(s, 5) == [BULK] * 5
    assert s.pick(T0, always).key is None and len(s) == 0
    with pytest.raises(ValueError):
        s.set_count(BULK, -1)
    with pytest.raises(ValueError):
        FairnessConfig(lane_weights={"bulk": 0})


# ------------------------------------------------------------------------------------- lanes


def test_transactional_is_picked_next_behind_100000_bulk() -> None:
    s = Scheduler()
    s.add(BULK, 100_000)
    assert picks(s, 1000) == [BULK] * 1000
    s.add(TRANS)
    assert s.pick(T0, always).key == TRANS
    assert s.pick(T0, always).key == BULK


def test_bulk_is_slowed_never_starved() -> None:
    s = Scheduler()
    s.add(BULK, 100_000)
    s.add(TRANS, 10_000)
    got = picks(s, 11_000)
    assert Counter(got) == {TRANS: 10_000, BULK: 1_000}
    for i in range(0, 11_000, 11):  # every 11 picks: 10 transactional, 1 bulk
        assert got[i : i + 11].count(BULK) == 1


def test_transactional_arriving_one_at_a_time_cannot_starve_bulk() -> None:
    """A lane that empties and refills between picks does not jump the line every time."""
    s = Scheduler()
    s.add(BULK, 1000)
    got = []
    for _ in range(1100):
        if not s.count(TRANS):
            s.add(TRANS)
        got.append(s.pick(T0, always).key)
    assert got.count(BULK) == 100


def test_lane_weights_are_configurable_and_unknown_lanes_weigh_one() -> None:
    s = Scheduler(FairnessConfig(lane_weights={"transactional": 3, "bulk": 1}))
    notify = QueueKey("acme", "notifications", "google")
    s.add(BULK, 1000)
    s.add(TRANS, 1000)
    s.add(notify, 1000)
    assert Counter(picks(s, 500)) == {TRANS: 300, BULK: 100, notify: 100}


def test_a_throttled_lane_does_not_bank_credit() -> None:
    s = Scheduler()
    s.add(BULK, 10_000)
    s.add(TRANS, 10_000)
    blocked = {"transactional"}

    def ready(key: QueueKey) -> float:
        return T0 + 60 if key.lane in blocked else T0

    assert all(s.pick(T0, ready).key == BULK for _ in range(500))
    blocked.clear()
    got = [s.pick(T0, ready).key for _ in range(110)]
    assert abs(got.count(BULK) - 10) <= 1  # back to 10:1 at once, not a burst of catch-up
    assert BULK in got[:12]
    blocked.add("bulk")
    assert all(s.pick(T0, ready).key == TRANS for _ in range(500))
    blocked.clear()
    got = [s.pick(T0, ready).key for _ in range(110)]
    assert abs(got.count(BULK) - 10) <= 1
    assert got[:12].count(BULK) <= 2


# ----------------------------------------------------------------------------------- tenants


def test_a_huge_tenant_does_not_starve_another() -> None:
    s = Scheduler()
    s.add(BULK, 100_000)
    assert picks(s, 100) == [BULK] * 100
    small = QueueKey("tiny", "bulk", "google")
    s.add(small, 10)
    got = picks(s, 20)
    assert got.count(small) == 10
    assert got[:2].count(small) == 1


def test_tenant_weights() -> None:
    s = Scheduler(FairnessConfig(tenant_weights={"big": 3}))
    big, other = QueueKey("big", "bulk", "x.org"), QueueKey("other", "bulk", "x.org")
    s.add(big, 1000)
    s.add(other, 1000)
    assert Counter(picks(s, 400)) == {big: 300, other: 100}


def test_destinations_of_a_tenant_take_turns() -> None:
    s = Scheduler()
    keys = [QueueKey("acme", "bulk", d) for d in ("google", "microsoft", "example.org")]
    s.add(keys[0], 1000)
    s.add(keys[1], 1000)
    s.add(keys[2], 2)
    assert Counter(picks(s, 9)) == {keys[0]: 4, keys[1]: 3, keys[2]: 2}


# --------------------------------------------------------------------------------- throttled


def test_a_throttled_destination_does_not_block_others() -> None:
    s = Scheduler()
    gmail = QueueKey("acme", "transactional", "google")
    small = QueueKey("acme", "transactional", "example.org")
    elsewhere = QueueKey("shop", "bulk", "example.net")
    s.add(gmail, 100)
    s.add(small, 1)
    s.add(elsewhere, 1)
    not_before = {"google": T0 + 60, "example.org": T0, "example.net": T0}

    def ready(key: QueueKey) -> float:
        return not_before[key.destination]

    assert {s.pick(T0, ready).key, s.pick(T0, ready).key} == {small, elsewhere}
    assert s.pick(T0, ready) == Pick(None, T0 + 60)  # and says when to look again
    assert s.pick(T0 + 60, ready).key == gmail
    not_before["google"] = math.inf
    assert s.pick(T0 + 60, ready) == Pick(None, math.inf)


def test_ready_is_asked_once_per_queue_per_pick() -> None:
    s = Scheduler()
    keys = [QueueKey(f"t{i % 50}", ("bulk", "transactional")[i % 2], f"d{i}.org")
            for i in range(2000)]
    for k in keys:
        s.add(k, 3)
    asked: list[QueueKey] = []

    def never(key: QueueKey) -> float:
        asked.append(key)
        return T0 + 1

    assert s.pick(T0, never) == Pick(None, T0 + 1)
    assert sorted(asked) == sorted(keys)


def _simulate(reserve: float) -> tuple[float, int]:
    """Deliver a 100,000-message bulk backlog to Gmail through the real throttle (one source
    IP, 5 ms of simulated work per message); a password reset for Gmail arrives after 30 s.
    Returns (how long it waited, bulk messages sent before it)."""
    clock_t = [T0]

    class Clock:
        def now(self) -> float:
            return clock_t[0]

    throttle = Throttle(ThrottleConfig(reserve=reserve), clock=Clock())
    s = Scheduler()
    s.add(BULK, 100_000)
    arrival = T0 + 30

    def ready(key: QueueKey) -> float:
        tk = ThrottleKey("shared", "192.0.2.1", key.destination)
        return throttle.check_send(tk, priority=key.lane == "transactional").at

    bulk_sent = 0
    while True:
        now = clock_t[0]
        if now >= arrival and not s.count(TRANS) and arrival > 0:
            s.add(TRANS)
            arrival = -1.0
            arrived_at = now
        pick = s.pick(now, ready)
        if pick.key is None:
            clock_t[0] = min(pick.wake_at, arrival if arrival > 0 else math.inf)
            continue
        throttle.message_started(ThrottleKey("shared", "192.0.2.1", pick.key.destination))
        if pick.key == TRANS:
            return now - arrived_at, bulk_sent
        bulk_sent += 1
        clock_t[0] = now + 0.005


def test_simulated_transactional_starts_within_a_second_of_arriving() -> None:
    waited, bulk_sent = _simulate(reserve=0.1)
    assert waited <= 1.0
    assert bulk_sent == 270  # bulk ran until it filled its 90% of Gmail's minute


def test_without_the_reserve_the_rate_window_would_make_it_wait() -> None:
    waited, _ = _simulate(reserve=0.0)
    assert waited > 1.0  # why the throttle keeps a share for priority lanes


# -------------------------------------------------------------------------------- properties

keys_strategy = st.builds(
    QueueKey,
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["transactional", "bulk"]),
    st.sampled_from(["google", "microsoft", "example.org"]),
)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            keys_strategy,
            st.integers(min_value=0, max_value=5),
            st.sampled_from([-1.0, 0.0, 5.0, math.inf]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_pick_invariants(ops: list[tuple[QueueKey, int, float]]) -> None:
    """Work-conserving, never a not-ready or empty queue, each queue asked at most once per
    pick, the right wake-up time, and every item picked exactly once."""
    s = Scheduler()
    delay: dict[str, float] = {}
    added = 0
    for key, n, d in ops:
        s.add(key, n)
        added += n
        delay[key.destination] = d
    taken: Counter[QueueKey] = Counter()
    expected = {k: s.count(k) for k in s.keys()}
    now = T0
    asked: list[QueueKey] = []

    def ready(key: QueueKey) -> float:
        asked.append(key)
        return now + delay[key.destination]

    for _ in range(added + 1):
        asked.clear()
        before = {k: s.count(k) for k in s.keys()}
        pick = s.pick(now, ready)
        assert len(asked) == len(set(asked))
        ready_keys = [k for k in before if delay[k.destination] <= 0]
        if pick.key is None:
            assert not ready_keys
            assert pick.wake_at == min((now + delay[k.destination] for k in before),
                                       default=math.inf)
            break
        assert pick.key in ready_keys
        assert s.count(pick.key) == before[pick.key] - 1
        taken[pick.key] += 1
    assert taken == {k: c for k, c in expected.items() if delay[k.destination] <= 0}


@given(st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=20),
       st.integers(min_value=1, max_value=500))
def test_busy_lanes_share_by_weight(wt: int, wb: int, n: int) -> None:
    s = Scheduler(FairnessConfig(lane_weights={"transactional": wt, "bulk": wb}))
    s.add(BULK, 10_000)
    s.add(TRANS, 10_000)
    got = Counter(picks(s, n))
    assert abs(got[TRANS] - n * wt / (wt + wb)) <= 1
    assert abs(got[BULK] - n * wb / (wt + wb)) <= 1


@given(st.lists(st.integers(min_value=1, max_value=4), min_size=2, max_size=6),
       st.integers(min_value=1, max_value=300))
def test_busy_tenants_share_by_weight(weights: list[int], n: int) -> None:
    tenants = {f"t{i}": w for i, w in enumerate(weights)}
    s = Scheduler(FairnessConfig(tenant_weights=tenants))
    for name in tenants:
        s.add(QueueKey(name, "bulk", "google"), 10_000)
    got = Counter(k.tenant for k in picks(s, n))
    total = sum(weights)
    for name, w in tenants.items():
        assert abs(got[name] - n * w / total) <= max(weights)


@given(st.lists(st.sampled_from(["t", "b", "drain-t"]), max_size=60))
def test_transactional_after_a_bulk_pick_is_always_next(history: list[str]) -> None:
    s = Scheduler()
    s.add(BULK, 10_000)
    for step in history:
        if step == "t":
            s.add(TRANS)
        elif step == "drain-t":
            s.set_count(TRANS, 0)
        else:
            s.pick(T0, always)
    s.set_count(TRANS, 0)
    assert s.pick(T0, always).key == BULK
    s.add(TRANS)
    assert s.pick(T0, always).key == TRANS
