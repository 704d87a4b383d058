import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.policy.shaping import SHAPING_RULES, ShapingRule, Signal, classify_reply
from postoffice.policy.throttle import (
    DEFAULT_LIMITS,
    PROVIDER_LIMITS,
    Backoff,
    BackoffConfig,
    DestinationLimits,
    PoolLimits,
    SlidingWindow,
    Throttle,
    ThrottleConfig,
    ThrottleKey,
    scaled,
    slowed_down,
    succeeded,
)
from postoffice.proto.smtp.reply import Reply

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


SMALL = DestinationLimits(max_connections=2, messages_per_connection=3, per_minute=5, per_hour=20)
GMAIL = ThrottleKey("shared", "192.0.2.1", "google")


def small_throttle(clock: FakeClock) -> Throttle:
    return Throttle(ThrottleConfig(sites={"example.org": SMALL}, reserve=0.0), clock=clock)


def key(site: str = "example.org", ip: str = "192.0.2.1", pool: str = "shared") -> ThrottleKey:
    return ThrottleKey(pool, ip, site)


# ------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "site", ["google", "microsoft", "yahoo", "apple", "gmx", "yandex", "mailru"]
)
def test_provider_defaults_by_site(site: str) -> None:
    config = ThrottleConfig()
    limits = config.limits_for("any-pool", site)
    assert limits == PROVIDER_LIMITS[site]
    assert limits is not DEFAULT_LIMITS
    assert config.limits_for("p", site.upper() + ".") == limits


def test_everything_else_gets_the_default() -> None:
    config = ThrottleConfig()
    assert config.limits_for("p", "example.org") == DEFAULT_LIMITS
    assert config.limits_for("p", "pphosted.com") == DEFAULT_LIMITS


def test_defaults_are_conservative_and_consistent() -> None:
    for limits in [*PROVIDER_LIMITS.values(), DEFAULT_LIMITS]:
        assert limits.per_minute is not None and limits.per_hour is not None
        assert limits.per_hour <= 60 * limits.per_minute
        assert limits.max_connections <= 10
        assert limits.messages_per_connection <= 50
    assert PROVIDER_LIMITS["microsoft"].max_connections < PROVIDER_LIMITS["google"].max_connections


def test_pool_overrides() -> None:
    warm = DestinationLimits(1, 5, 2, 50)
    pool_google = DestinationLimits(20, 100, 600, 20_000)
    config = ThrottleConfig(
        pools={"new-ips": PoolLimits(default=warm), "big": PoolLimits(sites={"google": pool_google})}
    )
    assert config.limits_for("big", "google") == pool_google
    assert config.limits_for("big", "microsoft") == PROVIDER_LIMITS["microsoft"]
    assert config.limits_for("big", "example.org") == DEFAULT_LIMITS
    # a pool's default replaces the "anything else" row, not the provider rows
    assert config.limits_for("new-ips", "example.org") == warm
    assert config.limits_for("new-ips", "google") == PROVIDER_LIMITS["google"]
    assert config.limits_for("unknown-pool", "google") == PROVIDER_LIMITS["google"]
    mixed = ThrottleConfig(sites={"Example.ORG.": warm}, pools={"p": PoolLimits({"GOOGLE": warm})})
    assert mixed.limits_for("x", "example.org") == warm
    assert mixed.limits_for("p", "google") == warm
    assert mixed.limits_for("x", "google") == PROVIDER_LIMITS["google"]  # built-ins stay
    assert mixed.limits_for("x", "yahoo") == PROVIDER_LIMITS["yahoo"]
    assert ThrottleConfig(providers={}).limits_for("x", "google") == DEFAULT_LIMITS


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        DestinationLimits(0, 1, None, None)
    with pytest.raises(ValueError, match="per_hour"):
        DestinationLimits(1, 1, None, 0)
    with pytest.raises(ValueError, match="reserve"):
        ThrottleConfig(reserve=1.0)


def test_scaled_never_below_one_and_unlimited_stays_unlimited() -> None:
    half = scaled(DestinationLimits(5, 20, 100, None), 0.5)
    assert half == DestinationLimits(2, 20, 50, None)
    assert scaled(DestinationLimits(1, 1, 1, 1), 1 / 16) == DestinationLimits(1, 1, 1, 1)


# ------------------------------------------------------------------------------------ windows


def test_sliding_window_counts_and_expires() -> None:
    w = SlidingWindow(60.0)
    for _ in range(5):
        w.add(T0)
    assert w.count(T0 + 59) == 5
    assert w.ready_at(T0 + 10, 5) == T0 + 61  # the whole 1 s bucket of T0 must leave
    assert w.ready_at(T0 + 10, 6) == T0 + 10
    assert w.count(T0 + 61) == 0


def test_sliding_window_frees_oldest_first() -> None:
    w = SlidingWindow(60.0)
    w.add(T0, 2)
    w.add(T0 + 30, 3)
    assert w.ready_at(T0 + 40, 5) == T0 + 61
    assert w.ready_at(T0 + 40, 3) == T0 + 91
    w.add(T0 + 20.5)  # clock went back: counted in the newest bucket
    assert w.count(T0 + 40) == 6


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=200),
       st.integers(min_value=1, max_value=8))
def test_no_true_window_exceeds_the_limit(offsets: list[float], limit: int) -> None:
    w = SlidingWindow(60.0)
    admitted: list[float] = []
    for t in sorted(T0 + o for o in offsets):
        at = w.ready_at(t, limit)
        assert at >= t
        if at == t:
            w.add(t)
            admitted.append(t)
    for i, start in enumerate(admitted):
        assert sum(1 for t in admitted[i:] if t - start < 60.0) <= limit


# ----------------------------------------------------------------------------------- throttle


def test_per_minute_limit() -> None:
    clock = FakeClock()
    th = small_throttle(clock)
    k = key()
    for _ in range(5):
        assert th.check_send(k).ok
        th.message_started(k)
    verdict = th.check_send(k)
    assert not verdict.ok and verdict.reason == "per-minute"
    assert T0 + 60 <= verdict.at <= T0 + 61
    clock.t = verdict.at - 0.001
    assert not th.check_send(k).ok
    clock.t = verdict.at
    assert th.check_send(k).ok


def test_per_hour_limit() -> None:
    clock = FakeClock()
    th = small_throttle(clock)
    k = key()
    sent = 0
    while clock.t < T0 + 3600:
        verdict = th.check_send(k)
        if verdict.ok:
            th.message_started(k)
            sent += 1
            clock.advance(1)
        else:
            clock.t = max(verdict.at, clock.t)
            if verdict.reason == "per-hour":
                break
    assert sent == 20
    assert verdict.reason == "per-hour"
    assert T0 + 3600 <= verdict.at <= T0 + 3660 + 60
    clock.t = verdict.at
    assert th.check_send(k).ok


def test_messages_per_connection() -> None:
    th = small_throttle(FakeClock())
    assert th.check_send(key(), sent_on_connection=2).ok
    verdict = th.check_send(key(), sent_on_connection=3)
    assert not verdict.ok and verdict.reason == "per-connection"


def test_max_connections() -> None:
    th = small_throttle(FakeClock())
    k = key()
    th.connection_opened(k)
    assert th.check_connect(k).ok
    th.connection_opened(k)
    verdict = th.check_connect(k)
    assert not verdict.ok and verdict.reason == "connections" and verdict.at == math.inf
    th.connection_closed(k)
    assert th.check_connect(k).ok and th.connections(k) == 1
    th.connection_closed(k)
    th.connection_closed(k)
    assert th.connections(k) == 0


def test_connect_also_waits_for_the_rate() -> None:
    th = small_throttle(FakeClock())
    for _ in range(5):
        th.message_started(key())
    assert th.check_connect(key()).reason == "per-minute"


def test_counters_are_per_source_ip_and_site() -> None:
    th = small_throttle(FakeClock())
    for _ in range(5):
        th.message_started(key())
    assert not th.check_send(key()).ok
    assert th.check_send(key(ip="192.0.2.2")).ok
    assert th.check_send(key(site="example.net")).ok
    assert not th.check_send(key(site="EXAMPLE.ORG.")).ok
    assert not th.check_send(key(pool="other")).ok  # same IP and site: the provider sees one


def test_priority_reserve() -> None:
    clock = FakeClock()
    th = Throttle(ThrottleConfig(), clock=clock)
    assert th.limits(GMAIL).per_minute == 270
    assert th.limits(GMAIL, priority=True).per_minute == 300
    assert th.limits(GMAIL).max_connections == 9
    for _ in range(270):
        th.message_started(GMAIL)
    assert th.check_send(GMAIL).reason == "per-minute"
    assert th.check_send(GMAIL, priority=True).ok



def test_share_among_delivery_processes() -> None:
    clock = FakeClock()
    third = Throttle(ThrottleConfig(share=1 / 3), clock=clock)
    assert third.limits(GMAIL, priority=True) == DestinationLimits(3, 50, 100, 3_333)
    assert third.limits(GMAIL).per_minute == 90  # and the reserve on top: 300 / 3 * 0.9
    small = Throttle(ThrottleConfig(sites={"example.org": SMALL}, share=1 / 8), clock=clock)
    assert small.limits(key(), priority=True) == DestinationLimits(1, 3, 1, 2)  # never below 1
    third.connection_opened(GMAIL)
    third.connection_opened(GMAIL)
    assert third.check_connect(GMAIL, priority=True).ok
    third.connection_opened(GMAIL)
    assert third.check_connect(GMAIL, priority=True).reason == "connections"
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            ThrottleConfig(share=share)


def test_rows_for_recipient_domains() -> None:
    config = ThrottleConfig(sites={"Gmail.com": SMALL}, pools={"p": PoolLimits({"bank.example": SMALL})})
    assert config.has_row("gmail.com.") and config.has_row("BANK.example")
    assert not config.has_row("google")  # a built-in provider row, not a configured one
    assert not config.has_row("other.example")


# ------------------------------------------------------------------------------------ shaping


@pytest.mark.parametrize("rule", SHAPING_RULES, ids=lambda r: r.name)
def test_every_rule_matches_its_own_example(rule: ShapingRule) -> None:
    assert rule.example
    code = int(rule.example[:3])
    assert classify_reply(code, rule.example).rule == rule.name
    assert classify_reply(code, rule.example).signal == rule.signal


SD, BL, NO = Signal.SLOW_DOWN, Signal.BLOCKED, Signal.NONE

REAL_REPLIES = [
    # (code, text, rule, signal)
    (421, "4.7.0 Try again later, closing connection. (EHLO) For more information, go to "
     "https://support.google.com/a/answer/3221692 a1si123.22 - gsmtp", "rate-limit", SD),
    (421, "4.7.28 [192.0.2.1 15] Our system has detected an unusual rate of unsolicited mail "
     "originating from your IP address.", "gmail-unsolicited-rate", SD),
    (451, "4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP "
     "reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
     "microsoft-reputation", SD),
    (451, "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714)",
     "microsoft-reputation", SD),
    (421, "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
     "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     "yahoo-deferral", SD),
    (421, "4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred due to user complaints - "
     "4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "yahoo-deferral", SD),
    (421, "4.7.1 [TS03] All messages from 192.0.2.1 will be permanently deferred; Retrying will "
     "NOT succeed.", "permanent-deferral", SD | BL),
    (421, "Too many concurrent SMTP connections from this IP address; please try again later.",
     "too-many-connections", SD),
    (450, "4.7.1 Error: too much mail from 192.0.2.1", "rate-limit", SD),
    (451, "Ratelimit exceeded for 192.0.2.1, try again later", "rate-limit", SD),
    (421, "mxgmx017.gmx.net Service unavailable", "service-unavailable", SD),
    (421, "4.7.26 Your email has been rate limited because it is unauthenticated.",
     "gmail-unauthenticated-rate", SD | BL),
    (421, "4.7.32 Your email has been rate limited because the From: header isn't aligned",
     "gmail-unauthenticated-rate", SD | BL),
    (451, "4.7.1 Greylisting in action, please come back later", "greylisting", NO),
    (421, "4.4.2 mx.example.org Error: timeout exceeded", "idle-timeout", NO),
    (550, "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
     "Internet service provider since part of their network is on our block list (S3150).",
     "policy-block", BL),
    (553, "5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in "
     "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", "policy-block", BL),
    (554, "5.7.9 Message not accepted for policy reasons.", "policy-block", BL),
    (550, "5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC "
     "policy.", "policy-block", BL),
    (550, "spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=x",
     "policy-block", BL),
    # ordinary replies: no shaping
    (452, "4.2.2 The email account that you tried to reach is over quota.", "", NO),
    (450, "4.1.8 <a@example.org>: Sender address rejected: Domain not found", "", NO),
    (450, "4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]", "", NO),
    (452, "4.5.3 Error: too many recipients", "", NO),
    (550, "5.1.1 The email account that you tried to reach does not exist.", "", NO),
    (552, "5.3.4 Message size exceeds fixed limit", "", NO),
    (250, "2.0.0 OK 1700000000 a1si123 - gsmtp", "", NO),
]


@pytest.mark.parametrize(("code", "text", "rule", "signal"), REAL_REPLIES)
def test_real_replies(code: int, text: str, rule: str, signal: Signal) -> None:
    shaping = classify_reply(code, text)
    assert (shaping.rule, shaping.signal) == (rule, signal)


def test_raw_multiline_reply_with_repeated_codes() -> None:
    raw = (
        "421-4.7.28 [192.0.2.1      15] Our system has detected an unusual rate of\r\n"
        "421-4.7.28 unsolicited mail originating from your IP address. To protect our\r\n"
        "421 4.7.28 users from spam, mail sent from your IP address has been temporarily"
    )
    assert classify_reply(421, raw).rule == "gmail-unsolicited-rate"
    # the same with the status code stripped off by the reply parser, given separately
    reply = Reply(421, "4.7.28", "Our system has detected an unusual rate of",
                  "unsolicited mail originating from your IP address.")
    assert classify_reply(reply.code, reply.text, reply.status).rule == "gmail-unsolicited-rate"


def test_status_alone_matches() -> None:
    assert classify_reply(421, "4.7.28 something new").rule == "gmail-unsolicited-rate"
    assert classify_reply(451, "whatever", status="4.7.651").rule == "microsoft-reputation"


# ------------------------------------------------------------------------------------ backoff

CFG = BackoffConfig()


def test_slow_down_halves_and_pauses() -> None:
    b = slowed_down(Backoff(), T0, CFG)
    assert b.factor == 0.5 and b.paused_until == T0 + 60 and b.strikes == 1


def test_replies_during_the_pause_are_the_same_incident() -> None:
    b = slowed_down(Backoff(), T0, CFG)
    assert slowed_down(b, T0 + 5, CFG) is b


def test_pause_grows_on_repeats_and_is_capped() -> None:
    b, t, pauses = Backoff(), T0, []
    for _ in range(9):
        b = slowed_down(b, t, CFG)
        pauses.append(b.paused_until - t)
        t = b.paused_until
    assert pauses == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert b.factor == 1 / 16  # floored


def test_strikes_are_forgotten_after_an_hour() -> None:
    b = slowed_down(Backoff(), T0, CFG)
    assert slowed_down(b, T0 + 3659, CFG).strikes == 2
    b = slowed_down(b, T0 + 3660, CFG)  # an hour after the pause ended
    assert b.strikes == 1 and b.paused_until == T0 + 3720
    assert b.factor == 0.25  # the factor itself only recovers by successes


def test_recovery_is_gradual_and_needs_successes() -> None:
    b = slowed_down(Backoff(), T0, CFG)
    assert succeeded(b, T0 + 30, CFG) is b  # still paused
    assert succeeded(b, T0 + 60, CFG) is b  # pause just ended: one interval first
    t, factors = T0 + 60, []
    while b.factor < 1.0:
        t += 60
        b = succeeded(b, t, CFG)
        assert succeeded(b, t + 30, CFG) is b  # not faster than one step per interval
        factors.append(b.factor)
    assert factors == [0.6, 0.7, 0.8, 0.9, 1.0]
    assert b.at_rest(T0 + 3660, CFG) and not b.at_rest(T0 + 3659, CFG)
    assert Backoff().at_rest(T0, CFG)


def test_throttle_slows_down_one_source_ip_for_one_destination() -> None:
    clock = FakeClock()
    th = Throttle(ThrottleConfig(reserve=0.0), clock=clock)
    other_ip = ThrottleKey("shared", "192.0.2.2", "google")
    other_site = ThrottleKey("shared", "192.0.2.1", "microsoft")
    shaping = th.record_reply(GMAIL, 421, "4.7.0 Try again later, closing connection.")
    assert shaping.signal == Signal.SLOW_DOWN
    verdict = th.check_connect(GMAIL)
    assert (verdict.ok, verdict.reason, verdict.at) == (False, "paused", T0 + 60)
    assert not th.check_send(GMAIL, priority=True).ok  # the pause holds for every lane
    assert th.check_connect(other_ip).ok and th.check_connect(other_site).ok
    clock.t = T0 + 60
    assert th.check_connect(GMAIL).ok
    assert th.limits(GMAIL) == DestinationLimits(5, 50, 150, 5000)
    # recovery with accepted messages
    for _ in range(5):
        clock.advance(60)
        th.record_reply(GMAIL, 250, "2.0.0 OK")
    assert th.limits(GMAIL) == PROVIDER_LIMITS["google"]


def test_halved_rate_is_enforced() -> None:
    clock = FakeClock()
    th = small_throttle(clock)
    th.record_reply(key(), 421, "Service not available")
    clock.advance(60)
    th.message_started(key())
    th.message_started(key())
    assert th.check_send(key()).reason == "per-minute"  # 5 -> 2


def test_blocked_and_ordinary_replies_do_not_pause() -> None:
    th = Throttle(clock=FakeClock())
    shaping = th.record_reply(GMAIL, 550, "5.7.1 ... this message has been blocked.")
    assert shaping.signal == Signal.BLOCKED and shaping.rule == "policy-block"
    assert th.record_reply(GMAIL, 452, "4.2.2 over quota").signal == Signal.NONE
    assert th.check_connect(GMAIL).ok and th.backoff(GMAIL) == Backoff()


def test_prune_forgets_idle_destinations() -> None:
    clock = FakeClock()
    th = small_throttle(clock)
    th.message_started(key())
    th.record_reply(key(site="google"), 421, "try again later")
    th.connection_opened(key(site="example.net"))
    assert th.prune() == 0
    clock.advance(3630)
    assert th.prune() == 0  # example.org's window holds its message; google paused < 1 h ago
    clock.advance(31)
    assert th.prune() == 2
    th.connection_closed(key(site="example.net"))
    assert th.prune() == 1
