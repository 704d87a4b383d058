"""Policy built from the configuration, and how the engine's scheduler sees it."""

import math
from pathlib import Path

import pytest

from postoffice import config as cfg
from postoffice.mta.delivery_policy import fairness_config, routing, throttle_config
from postoffice.mta.engine import DeliveryEngine, _Flight
from postoffice.policy import fairness
from postoffice.policy.routing import Smarthost
from postoffice.policy.throttle import (
    DEFAULT_LIMITS,
    DEFAULT_THROTTLE_CONFIG,
    PROVIDER_LIMITS,
    DestinationLimits,
)


def load(tmp_path: Path, text: str) -> cfg.Config:
    (tmp_path / "postoffice.toml").write_text(text)
    return cfg.load(tmp_path, environ={})


def test_defaults_are_the_built_in_policy(tmp_path: Path) -> None:
    config = load(tmp_path, cfg.render("mx.example.test", cfg.DEV_LISTENERS))
    assert throttle_config(config) == DEFAULT_THROTTLE_CONFIG
    assert fairness_config(config) == fairness.DEFAULT_FAIRNESS_CONFIG
    assert routing(config).smarthost_for("default", "example.test") is None


def test_rows_fill_in_from_the_row_they_override(tmp_path: Path) -> None:
    config = load(tmp_path, """
[throttle]
reserve = 0.2
[throttle.default]
per_minute = 60
[throttle.sites.google]
max_connections = 20
[throttle.sites."bank.example"]
per_hour = 0
[throttle.backoff]
pause = 30
max_pause = 600
[pools.shared]
addresses = ["192.0.2.1"]
[pools.shared.limits.default]
max_connections = 2
[pools.shared.limits.google]
per_minute = 600
[pools.shared.limits.microsoft]
messages_per_connection = 5
[pools.shared.limits."other.example"]
per_hour = 100
[pools.fresh]
addresses = ["192.0.2.2"]
""")
    t = throttle_config(config)
    default = DestinationLimits(5, 25, 60, 3_600)
    google = DestinationLimits(20, 50, 300, 10_000)
    assert t.limits_for("fresh", "example.org") == default
    assert t.limits_for("fresh", "google") == google  # site row over the built-in provider row
    assert t.limits_for("fresh", "yahoo") == PROVIDER_LIMITS["yahoo"]
    assert t.limits_for("fresh", "bank.example") == DestinationLimits(5, 25, 60, None)
    # The pool's rows come first, and fill in from what the pool would get without them.
    assert t.limits_for("shared", "google") == DestinationLimits(20, 50, 600, 10_000)
    assert t.limits_for("shared", "microsoft") == DestinationLimits(5, 5, 100, 3_000)
    assert t.limits_for("shared", "other.example") == DestinationLimits(2, 25, 60, 100)
    assert t.limits_for("shared", "example.org") == DestinationLimits(2, 25, 60, 3_600)
    assert t.limits_for("shared", "yahoo") == PROVIDER_LIMITS["yahoo"]  # provider before pool default
    assert (t.reserve, t.backoff.pause, t.backoff.max_pause, t.share) == (0.2, 30.0, 600.0, 1.0)


def test_without_provider_rows_every_site_is_the_default(tmp_path: Path) -> None:
    t = throttle_config(load(tmp_path, "[throttle]\nproviders = false\n"))
    assert t.limits_for("", "google") == DEFAULT_LIMITS


@pytest.mark.parametrize("processes, share", [(0, 1.0), (1, 1.0), (4, 0.25)])
def test_limits_are_shared_among_delivery_processes(tmp_path: Path, processes: int, share: float) -> None:
    t = throttle_config(load(tmp_path, f"[delivery]\nprocesses = {processes}\n"))
    assert t.share == share


def test_lane_weights_over_the_built_in_ones(tmp_path: Path) -> None:
    weights = fairness_config(load(tmp_path, "[lanes]\nweights = { transactional = 25 }\n")).lane_weights
    assert dict(weights) == {"transactional": 25, "bulk": 1}


def test_smarthosts_from_the_tables_and_delivery(tmp_path: Path) -> None:
    r = routing(load(tmp_path, """
[delivery]
smarthost = "relay.example:2525"
smarthost_auth = "all:pw"
smarthost_tls = "verify"
[smarthosts.acme]
host = "relay.acme.example:587"
tenants = ["acme"]
domains = ["Acme.example"]
"""))
    acme = Smarthost("acme", "relay.acme.example", 587, "opportunistic", None)
    assert r.smarthost_for("acme", "other.example") == acme
    assert r.smarthost_for("default", "acme.example") == acme
    assert r.smarthost_for("default", "other.example") == Smarthost(
        "", "relay.example", 2525, "verify", ("all", "pw"))


def engine(tmp_path: Path, text: str) -> DeliveryEngine:
    return DeliveryEngine(config=load(tmp_path, text), run=None, intake=None, router=None)  # type: ignore[arg-type]


def queue(tenant: str, lane: str = "transactional") -> fairness.QueueKey:
    return fairness.QueueKey(tenant, lane, "remote.example")


def test_scheduler_counts_picked_sessions_until_they_end(tmp_path: Path) -> None:
    e = engine(tmp_path, """
[smarthosts.acme]
host = "relay.acme.example:587"
tenants = ["acme"]
[pools.shared]
addresses = ["192.0.2.1", "192.0.2.2"]
[pools.shared.limits."hosting.example"]
max_connections = 1
""")
    # Until the domain's site is known, one session finds it out.
    first = _Flight(e._in_flight, "shared", "remote.example")
    assert e._ready(queue("default")) == math.inf
    assert e._ready(queue("acme")) == 0.0  # relayed: not throttled
    e._sites["remote.example"] = "hosting.example"
    first.move("hosting.example")
    assert e._ready(queue("default")) == 0.0  # one per address of the pool
    second = _Flight(e._in_flight, "shared", "hosting.example")
    assert e._ready(queue("default")) == math.inf
    first.land()
    first.land()  # once only
    assert e._ready(queue("default")) == 0.0
    second.land()
    assert not e._in_flight
