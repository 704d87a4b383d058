"""The retry schedule (RFC 5321 4.5.4.1), with explicit timestamps and a fake random source."""

from __future__ import annotations

import random
from itertools import accumulate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.policy.retry import (
    DAY,
    DEFAULT_LIFETIME,
    HOUR,
    MINUTE,
    OUTCOMES,
    GiveUp,
    Outcome,
    Retry,
    RetryPolicy,
    backoff,
    delay_notice_due,
    next_attempt,
)

T0 = 1_700_000_000.0
NO_JITTER = RetryPolicy(jitter=0)


def schedule(outcome: Outcome, policy: RetryPolicy = NO_JITTER,
             lifetime: float = DEFAULT_LIFETIME, rand: float | None = None) -> list[float]:
    """Attempt times of an item that fails with `outcome` every time, until it gives up."""
    times = [T0]
    while True:
        decision = next_attempt(T0, len(times), outcome, times[-1], lifetime=lifetime,
                                policy=policy, rand=(lambda: rand) if rand is not None else None)
        if isinstance(decision, GiveUp):
            return times
        times.append(decision.at)


def test_default_steps() -> None:
    times = schedule("tempfail")
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[:9] == [1 * MINUTE, 5 * MINUTE, 10 * MINUTE, 20 * MINUTE, 30 * MINUTE,
                        1 * HOUR, 2 * HOUR, 4 * HOUR, 4 * HOUR]
    assert max(gaps) == 4 * HOUR  # capped
    assert times[-1] == T0 + 5 * DAY  # the last attempt is at the end of the lifetime


def test_fake_clock_walkthrough() -> None:
    # first failure one minute after queueing, at T0 + 60
    assert next_attempt(T0, 1, "tempfail", T0 + 60, policy=NO_JITTER) == Retry(T0 + 120, 60)
    assert next_attempt(T0, 2, "tempfail", T0 + 130, policy=NO_JITTER) == Retry(T0 + 430, 300)
    # the queue was down for a day: the next attempt counts from now, not from the plan
    assert next_attempt(T0, 3, "tempfail", T0 + DAY, policy=NO_JITTER) == Retry(T0 + DAY + 600, 600)
    assert next_attempt(T0, 50, "tempfail", T0 + 2 * DAY, policy=NO_JITTER) == Retry(
        T0 + 2 * DAY + 4 * HOUR, 4 * HOUR)


def test_lifetime_ends_in_giving_up_with_4_4_7() -> None:
    deadline = T0 + DEFAULT_LIFETIME
    assert next_attempt(T0, 30, "tempfail", deadline) == GiveUp("4.4.7", "delivery time expired")
    assert next_attempt(T0, 30, "tempfail", deadline + 1) == GiveUp()
    # just before the deadline: one last attempt, exactly at the deadline
    assert next_attempt(T0, 30, "tempfail", deadline - 10, policy=NO_JITTER) == Retry(deadline, 10)


def test_configurable_lifetime() -> None:
    times = schedule("tempfail", lifetime=1 * HOUR)
    assert times[-1] == T0 + HOUR
    assert next_attempt(T0, 1, "tempfail", T0 + HOUR, lifetime=HOUR) == GiveUp()
    with pytest.raises(ValueError):
        next_attempt(T0, 1, "tempfail", T0, lifetime=0)


@pytest.mark.parametrize("attempts", [1, 2, 5, 8, 9, 100, 10_000])
def test_dns_failure_is_always_a_retry(attempts: int) -> None:
    for now in (T0, T0 + 60, T0 + DAY, T0 + DEFAULT_LIFETIME - 1):
        decision = next_attempt(T0, attempts, "dns", now)
        assert isinstance(decision, Retry), (attempts, now)
        assert now < decision.at <= T0 + DEFAULT_LIFETIME


def test_throttled_and_tls_have_floors() -> None:
    assert backoff(1, "tempfail", NO_JITTER) == 1 * MINUTE
    assert backoff(1, "connection", NO_JITTER) == 1 * MINUTE
    assert backoff(1, "dns", NO_JITTER) == 1 * MINUTE
    assert backoff(1, "throttled", NO_JITTER) == 15 * MINUTE
    assert backoff(1, "tls", NO_JITTER) == 5 * MINUTE
    assert backoff(6, "throttled", NO_JITTER) == 1 * HOUR  # above the floor, the step wins
    custom = RetryPolicy(jitter=0, throttled_floor=HOUR, tls_floor=0)
    assert backoff(1, "throttled", custom) == HOUR and backoff(1, "tls", custom) == MINUTE


def test_jitter_shortens_within_the_fraction() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert backoff(8, "tempfail", policy, 0.0) == 4 * HOUR
    assert backoff(8, "tempfail", policy, 0.5) == pytest.approx(4 * HOUR * 0.9)
    decision = next_attempt(T0, 8, "tempfail", T0, policy=policy, rand=lambda: 0.999)
    assert isinstance(decision, Retry)
    assert 4 * HOUR * 0.8 < decision.delay < 4 * HOUR * 0.801


def test_jitter_is_reproducible_with_a_seeded_source() -> None:
    def run(seed: int) -> list[Retry | GiveUp]:
        rand = random.Random(seed).random
        return [next_attempt(T0, n, "tempfail", T0, rand=rand) for n in range(1, 20)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    plain = [next_attempt(T0, n, "tempfail", T0, policy=NO_JITTER) for n in range(1, 20)]
    for jittered, full in zip(run(7), plain, strict=True):
        assert isinstance(jittered, Retry) and isinstance(full, Retry)
        assert full.delay * 0.9 <= jittered.delay <= full.delay


def test_custom_steps() -> None:
    policy = RetryPolicy(steps=(10.0, 20.0), jitter=0)
    assert [backoff(n, "tempfail", policy) for n in (1, 2, 3, 50)] == [10, 20, 20, 20]


@pytest.mark.parametrize(
    "kw",
    [{"steps": ()}, {"steps": (0.0,)}, {"steps": (60.0, 30.0)}, {"jitter": 1.0},
     {"jitter": -0.1}, {"throttled_floor": -1.0}],
)
def test_bad_policy(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kw)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        backoff(0, "tempfail")
    with pytest.raises(ValueError):
        backoff(1, "permfail")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        backoff(1, "tempfail", draw=1.0)


# -- properties ------------------------------------------------------------------------------

outcomes = st.sampled_from(OUTCOMES)
draws = st.floats(min_value=0, max_value=1, exclude_max=True)
policies = st.builds(
    RetryPolicy,
    steps=st.lists(st.floats(min_value=1, max_value=DAY), min_size=1, max_size=10).map(
        lambda xs: tuple(accumulate(sorted(xs), max))),
    jitter=st.floats(min_value=0, max_value=0.9),
    throttled_floor=st.floats(min_value=0, max_value=DAY),
    tls_floor=st.floats(min_value=0, max_value=DAY),
)


@given(first=st.floats(min_value=0, max_value=4e9), attempts=st.integers(1, 10_000),
       outcome=outcomes, elapsed=st.floats(min_value=0, max_value=30 * DAY),
       lifetime=st.floats(min_value=1, max_value=30 * DAY), policy=policies, draw=draws)
def test_next_attempt_is_in_the_future_and_within_the_lifetime(
    first: float, attempts: int, outcome: Outcome, elapsed: float, lifetime: float,
    policy: RetryPolicy, draw: float,
) -> None:
    now = first + elapsed
    decision = next_attempt(first, attempts, outcome, now, lifetime=lifetime, policy=policy,
                            rand=lambda: draw)
    if isinstance(decision, GiveUp):
        assert now >= first + lifetime  # giving up only when the lifetime is over
        assert decision.status == "4.4.7"
    else:
        assert decision.at > now
        assert decision.at <= first + lifetime
        assert decision.delay == pytest.approx(decision.at - now)


@given(outcome=outcomes, policy=policies, draw=draws)
def test_intervals_never_decrease(outcome: Outcome, policy: RetryPolicy, draw: float) -> None:
    delays = [backoff(n, outcome, policy, draw) for n in range(1, len(policy.steps) + 5)]
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert all(d > 0 for d in delays)


@given(outcome=outcomes, draw=draws)
def test_whole_schedule_is_monotone_until_the_last_clamped_attempt(outcome: Outcome,
                                                                   draw: float) -> None:
    times = schedule(outcome, RetryPolicy(), rand=draw)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g > 0 for g in gaps)
    assert all(b >= a for a, b in zip(gaps[:-2], gaps[1:-1], strict=False))  # last is clamped
    assert times[-1] == T0 + DEFAULT_LIFETIME
    assert max(gaps) <= 4 * HOUR


@given(outcome=outcomes, draw=draws, attempts=st.integers(1, 100))
def test_jittered_delay_is_within_the_fraction(outcome: Outcome, draw: float,
                                               attempts: int) -> None:
    policy = RetryPolicy()
    full = backoff(attempts, outcome, NO_JITTER)
    got = backoff(attempts, outcome, policy, draw)
    assert full * (1 - policy.jitter) - 1e-9 <= got <= full


# -- delay notices ---------------------------------------------------------------------------

def test_delay_notice_due() -> None:
    assert not delay_notice_due(T0, T0 + 4 * HOUR - 1, already_sent=False)
    assert delay_notice_due(T0, T0 + 4 * HOUR, already_sent=False)
    assert delay_notice_due(T0, T0 + 2 * DAY, already_sent=False)
    assert not delay_notice_due(T0, T0 + 2 * DAY, already_sent=True)
    assert delay_notice_due(T0, T0 + HOUR, already_sent=False, delay_after=HOUR)
    assert not delay_notice_due(T0, T0 + HOUR, already_sent=False, delay_after=2 * HOUR)
