import random
from collections import Counter

from postoffice.config import PoolAddress, PoolSettings
from postoffice.policy.pools import choose_source, pool_for

POOLS = {
    "shared": PoolSettings(addresses=(PoolAddress("127.0.0.2"), PoolAddress("127.0.0.3", "out3.test", 3))),
    "acme": PoolSettings(addresses=(PoolAddress("127.0.0.4", "acme-out.test"),), tenants=("acme",)),
    "brand": PoolSettings(addresses=(PoolAddress("127.0.0.5"),), domains=("Brand.example",)),
}


def test_assignment_by_domain_then_tenant_then_shared() -> None:
    assert pool_for(POOLS, "acme", "brand.example") == "brand"
    assert pool_for(POOLS, "acme", "other.example") == "acme"
    assert pool_for(POOLS, "default", "other.example") == "shared"
    assert pool_for({}, "acme", "brand.example") == ""
    only_dedicated = {"brand": POOLS["brand"]}
    assert pool_for(only_dedicated, "x", "y.example") == "brand"


def test_weighted_choice_and_ehlo_names() -> None:
    rng = random.Random(7)
    picks = Counter(choose_source(POOLS, "shared", "mx.test", rng).address for _ in range(4000))
    assert set(picks) == {"127.0.0.2", "127.0.0.3"}
    assert 2.5 < picks["127.0.0.3"] / picks["127.0.0.2"] < 3.5
    assert choose_source(POOLS, "acme", "mx.test", rng).ehlo == "acme-out.test"
    assert choose_source(POOLS, "shared", "mx.test", random.Random(1), exclude=frozenset({"127.0.0.3"})).ehlo == "mx.test"


def test_backing_off_addresses_are_avoided_while_others_remain() -> None:
    rng = random.Random(3)
    avoided = {choose_source(POOLS, "shared", "h", rng, frozenset({"127.0.0.3"})).address for _ in range(50)}
    assert avoided == {"127.0.0.2"}
    all_out = {choose_source(POOLS, "shared", "h", rng, frozenset({"127.0.0.2", "127.0.0.3"})).address
               for _ in range(50)}
    assert all_out == {"127.0.0.2", "127.0.0.3"}


def test_no_pools_lets_the_system_choose() -> None:
    source = choose_source({}, "", "mx.test", random.Random())
    assert source.address is None and source.ehlo == "mx.test"
