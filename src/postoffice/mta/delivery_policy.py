"""The delivery engine's policy settings, built from the configuration.

policy/ decides from plain values; this is where `[throttle]`, `[pools.NAME.limits]`,
`[smarthosts.NAME]`, `[delivery] smarthost`, `[delivery] processes`, `[lanes]` and
`[publish]` become them.
"""

from __future__ import annotations

from collections.abc import Mapping

from postoffice.config import Config, LimitSettings, parse_hostport
from postoffice.policy import published
from postoffice.policy.fairness import DEFAULT_FAIRNESS_CONFIG, FairnessConfig
from postoffice.policy.pools import pool_for
from postoffice.policy.routing import Routing, Smarthost
from postoffice.policy.throttle import (
    DEFAULT_LIMITS,
    PROVIDER_LIMITS,
    BackoffConfig,
    DestinationLimits,
    PoolLimits,
    ThrottleConfig,
)

POOL_DEFAULT = "default"
"""The `[pools.NAME.limits.default]` row: the pool's limits for every other destination."""


def throttle_config(config: Config) -> ThrottleConfig:
    """Each row is filled in from the one it overrides: a site row from the built-in provider
    row (else the default), a pool's default from the default, a pool's site row from what the
    pool would get without it."""
    t = config.throttle
    default = _row(t.default, DEFAULT_LIMITS)
    providers = PROVIDER_LIMITS if t.providers else {}
    sites = {site: _row(row, providers.get(site, default)) for site, row in _sites(t.sites).items()}
    pools = {}
    for name, pool in config.pools.items():
        rows = _sites(pool.limits)
        own = rows.pop(POOL_DEFAULT, None)
        pool_default = None if own is None else _row(own, default)
        pools[name] = PoolLimits(
            {site: _row(row, sites.get(site) or providers.get(site) or pool_default or default)
             for site, row in rows.items()},
            pool_default,
        )
    processes = config.delivery.processes
    return ThrottleConfig(
        sites=sites, providers=providers, default=default, pools=pools, reserve=t.reserve,
        backoff=BackoffConfig(pause=t.backoff.pause, max_pause=t.backoff.max_pause),
        share=1.0 / processes if processes > 1 else 1.0,
    )


def routing(config: Config) -> Routing:
    d = config.delivery
    fallback = None
    if d.smarthost:
        fallback = _smarthost("", d.smarthost, d.smarthost_auth, d.smarthost_tls)
    domains: dict[str, Smarthost] = {}
    tenants: dict[str, Smarthost] = {}
    for name, table in config.smarthosts.items():
        smarthost = _smarthost(name, table.host, table.auth, table.tls)
        domains.update(dict.fromkeys(table.domains, smarthost))
        tenants.update(dict.fromkeys(table.tenants, smarthost))
    return Routing(domains, tenants, fallback)


def fairness_config(config: Config) -> FairnessConfig:
    """`[lanes] weights` over the built-in weights (a lane left out keeps its own)."""
    weights = {**DEFAULT_FAIRNESS_CONFIG.lane_weights, **config.lanes.weights}
    return FairnessConfig(lane_weights=weights)


def _row(row: LimitSettings, beneath: DestinationLimits) -> DestinationLimits:
    """`row` with its omitted keys taken from `beneath`; a rate of 0 is unlimited."""

    def rate(value: int | None, inherited: int | None) -> int | None:
        return inherited if value is None else value or None

    return DestinationLimits(
        max_connections=beneath.max_connections if row.max_connections is None
        else row.max_connections,
        messages_per_connection=beneath.messages_per_connection
        if row.messages_per_connection is None else row.messages_per_connection,
        per_minute=rate(row.per_minute, beneath.per_minute),
        per_hour=rate(row.per_hour, beneath.per_hour),
    )


def _sites(rows: Mapping[str, LimitSettings]) -> dict[str, LimitSettings]:
    return {site.lower().rstrip("."): row for site, row in rows.items()}


def _smarthost(name: str, hostport: str, auth: str, tls: str) -> Smarthost:
    where = f"smarthosts.{name}.host" if name else "delivery.smarthost"
    host, port = parse_hostport(hostport, where)
    user, _, password = auth.partition(":")
    return Smarthost(name, host, port, tls, (user, password) if auth else None)


def publish_settings(config: Config, domain: str) -> published.Publish:
    """What `domain` publishes (`[publish]`, and the IP pool its mail leaves from)."""
    p = config.publish
    pool = pool_for(config.pools, "default", domain)
    addresses = tuple(a.address for a in config.pools[pool].addresses) if pool else ()
    return published.Publish(
        mx=p.mx or (config.server.hostname,), sending_addresses=addresses, spf_all=p.spf,
        dmarc_policy=p.dmarc_policy, report_mailbox=p.report_mailbox,
        mta_sts_mode=p.mta_sts_mode, mta_sts_max_age=p.mta_sts_max_age,
        bimi_logo=p.bimi_logos.get(domain.lower().rstrip("."), ""),
    )
