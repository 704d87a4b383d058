"""When to try a deferred delivery again, and when to give up (RFC 5321 4.5.4.1).

Everything here is a pure function of injected values: the time (`now`, `first_attempt`) comes
from the caller's clock, and the jitter from an injected random source, so a schedule can be
checked with plain numbers.

Theory of operation. A queue item that failed temporarily is retried after a delay taken from
`RetryPolicy.steps` by its attempt count (1 min, 5, 10, 20, 30 min, 1 h, 2 h, then every 4 h:
the last step repeats, so it is also the cap). The delay is shortened by up to
`jitter` (a fraction) so that many items deferred together do not come back together. Some
outcomes have a floor: a destination that asked us to slow down (`throttled`) is not retried
sooner than `throttled_floor`; a TLS failure (`tls`, usually a certificate or policy problem)
not sooner than `tls_floor`. Every outcome here is temporary: a 5xx reply is a permanent
failure and never comes here; a DNS SERVFAIL or timeout (`dns`) is a retry like the others,
never a bounce. The only way out is the lifetime (default 5 days, RFC 5321 4.5.4.1 asks for
at least 4-5): no attempt is planned after `first_attempt + lifetime` (the last one is moved
to that instant), and a failure at or after it gives up with 4.4.7 "delivery time expired".

RFC 5321 4.5.4.1 says the retry interval SHOULD generally be at least 30 minutes, and allows
"more sophisticated and variable strategies" when the client knows why delivery failed. We
start shorter because most first deferrals are greylisting (a retry after a few minutes passes)
or a momentary overload, and grow to the customary hours for the failures that last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

Outcome = Literal["tempfail", "connection", "dns", "tls", "throttled"]
"""How the last attempt failed, temporarily:

- `tempfail`: a 4xx reply;
- `connection`: refused, timed out, or reset (no usable SMTP session);
- `dns`: SERVFAIL or timeout looking up the destination (not NXDOMAIN: that is permanent);
- `tls`: the TLS handshake failed, or the TLS policy (MTA-STS, `required`, `verify`) was not met;
- `throttled`: the destination asked us to slow down (421, 4.7.x rate-limit replies).
"""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
DEFAULT_LIFETIME = 5 * DAY
DEFAULT_DELAY_NOTICE_AFTER = 4 * HOUR

EXPIRED_STATUS = "4.4.7"
"""RFC 3463 X.4.7, delivery time expired; reported with Action: failed."""
EXPIRED_TEXT = "delivery time expired"


@dataclass(frozen=True)
class RetryPolicy:
    """The shape of the backoff; the lifetime is a separate argument."""

    steps: tuple[float, ...] = (
        1 * MINUTE, 5 * MINUTE, 10 * MINUTE, 20 * MINUTE, 30 * MINUTE, 1 * HOUR, 2 * HOUR, 4 * HOUR,
    )
    """Seconds to wait after the 1st, 2nd, ... failed attempt; the last step repeats (the cap).
    Positive and non-decreasing."""
    jitter: float = 0.1
    """Fraction in [0, 1): a delay is shortened by up to this much, at random."""
    throttled_floor: float = 15 * MINUTE
    """Least delay after a `throttled` outcome."""
    tls_floor: float = 5 * MINUTE
    """Least delay after a `tls` outcome."""

    def __post_init__(self) -> None:
        if not self.steps or any(s <= 0 for s in self.steps):
            raise ValueError("retry steps must be positive and not empty")
        if any(b < a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("retry steps must not decrease")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.throttled_floor < 0 or self.tls_floor < 0:
            raise ValueError("floors must not be negative")


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Retry:
    """Try again at `at` (seconds since the epoch), `delay` seconds after `now`."""

    at: float
    delay: float


@dataclass(frozen=True)
class GiveUp:
    """The lifetime is over: the item becomes a permanent failure (Action: failed)."""

    status: str = EXPIRED_STATUS
    text: str = EXPIRED_TEXT


def backoff(attempts: int, outcome: Outcome, policy: RetryPolicy = DEFAULT_POLICY,
            draw: float = 0.0) -> float:
    """The delay after the `attempts`-th failed attempt, before the lifetime is considered.

    `draw` in [0, 1) picks the jitter: 0 gives the full step, values towards 1 shorten it by
    up to `policy.jitter`. For a fixed outcome and a fixed `draw`, delays never decrease as
    `attempts` grows."""
    if attempts < 1:
        raise ValueError("attempts counts the attempts made so far: at least 1")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if not 0 <= draw < 1:
        raise ValueError("draw must be in [0, 1)")
    step = policy.steps[min(attempts, len(policy.steps)) - 1]
    delay = step * (1 - policy.jitter * draw)
    if outcome == "throttled":
        delay = max(delay, policy.throttled_floor)
    elif outcome == "tls":
        delay = max(delay, policy.tls_floor)
    return delay


def next_attempt(
    first_attempt: float,
    attempts: int,
    outcome: Outcome,
    now: float,
    *,
    lifetime: float = DEFAULT_LIFETIME,
    policy: RetryPolicy = DEFAULT_POLICY,
    rand: Callable[[], float] | None = None,
) -> Retry | GiveUp:
    """After a temporary failure at `now`: when to try again, or give up.

    `first_attempt` is when the item entered the queue (its lifetime counts from there),
    `attempts` how many attempts were made, the failed one included. `rand` is a source of
    floats in [0, 1) for the jitter (e.g. `random.Random().random`); None means no jitter.
    The next attempt is always after `now` and never after `first_attempt + lifetime`."""
    if lifetime <= 0:
        raise ValueError("lifetime must be positive")
    delay = backoff(attempts, outcome, policy, rand() if rand is not None else 0.0)
    deadline = first_attempt + lifetime
    if now >= deadline:
        return GiveUp()
    at = min(now + delay, deadline)
    return Retry(at=at, delay=at - now)


def delay_notice_due(
    first_attempt: float,
    now: float,
    already_sent: bool,
    delay_after: float = DEFAULT_DELAY_NOTICE_AFTER,
) -> bool:
    """Whether a "delayed" DSN is owed now: the item has waited `delay_after` seconds since
    `first_attempt` and none was sent yet (one per item). Whether the sender wants one at all
    is `message.dsn.should_notify`'s question."""
    return not already_sent and now - first_attempt >= delay_after
