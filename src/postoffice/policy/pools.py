"""Which local address an outbound connection leaves from (IP pools).

A pool is a named set of local addresses, each with its EHLO name and a weight. A sending
domain or a tenant is assigned to a pool (dedicated pools); everything else uses the pool named
"shared" if there is one, else the first pool; with no pools at all the system picks the
address (source None). Inside a pool the choice is weighted-random, with the random source
injected so tests are deterministic."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from postoffice.config import PoolSettings

SHARED = "shared"


@dataclass(frozen=True)
class Source:
    """Where one delivery leaves from."""

    pool: str
    """Pool name; "" when no pools are configured."""
    address: str | None
    """Local IP to bind to; None lets the system choose."""
    ehlo: str
    """Name to greet the remote server with."""


def pool_for(pools: Mapping[str, PoolSettings], tenant: str, sender_domain: str) -> str:
    """The pool name for a message: by sending domain, then tenant, then the shared pool."""
    if not pools:
        return ""
    domain = sender_domain.lower()
    for name, pool in pools.items():
        if domain and domain in (d.lower() for d in pool.domains):
            return name
    for name, pool in pools.items():
        if tenant in pool.tenants:
            return name
    if SHARED in pools:
        return SHARED
    shared = [name for name, pool in pools.items() if not pool.domains and not pool.tenants]
    return shared[0] if shared else next(iter(pools))


def choose_source(
    pools: Mapping[str, PoolSettings],
    pool: str,
    default_ehlo: str,
    rng: random.Random,
    exclude: frozenset[str] = frozenset(),
) -> Source:
    """A weighted-random address of `pool`, avoiding `exclude` (addresses that are backing
    off) while any other remains."""
    if not pool:
        return Source("", None, default_ehlo)
    candidates = [a for a in pools[pool].addresses if a.address not in exclude]
    candidates = candidates or list(pools[pool].addresses)
    chosen = rng.choices(candidates, weights=[a.weight for a in candidates])[0]
    return Source(pool, chosen.address, chosen.ehlo or default_ehlo)
