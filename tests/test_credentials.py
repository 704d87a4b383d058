from pathlib import Path

import pytest

from postoffice.config import ConfigError, load
from postoffice.credentials import LoginCache, generate_password, hash_password, verify_password


def test_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("s3cret", n=2**10)
    assert stored.startswith("$scrypt$n=1024,r=8,p=1$")
    assert "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert not verify_password("", stored)


def test_salted() -> None:
    assert hash_password("x", n=2**10) != hash_password("x", n=2**10)


def test_malformed_hash_never_verifies() -> None:
    for bad in ("", "plain", "$md5$x$y$z", "$scrypt$n=zz$a$b"):
        assert not verify_password("x", bad)


def test_generated_passwords_are_long_and_distinct() -> None:
    a, b = generate_password(), generate_password()
    assert a != b and len(a) >= 20


# -- the login cache ------------------------------------------------------------------------

class _Counting:
    """verify_password, counting the full verifications."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, password: str, stored: str) -> bool:
        self.calls += 1
        return verify_password(password, stored)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(ttl: float = 300.0) -> tuple[LoginCache, _Counting, _Clock]:
    counting, clock = _Counting(), _Clock()
    return LoginCache(ttl, clock=clock, verify=counting), counting, clock


STORED = hash_password("s3cret", n=2**10)


def test_login_cache_hit_skips_the_hash() -> None:
    cache, counting, _ = _cache()
    assert not cache.cached("alice@example.org", "s3cret", STORED)
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert counting.calls == 1
    assert cache.cached("alice@example.org", "s3cret", STORED)
    assert cache.cached("Alice@Example.ORG", "s3cret", STORED)  # addresses are caseless
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert counting.calls == 1
    assert len(cache) == 1


def test_login_cache_misses_other_passwords_and_addresses() -> None:
    cache, counting, _ = _cache()
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert not cache.cached("alice@example.org", "s3cret ", STORED)
    assert not cache.cached("bob@example.org", "s3cret", STORED)
    assert not cache.verify("alice@example.org", "wrong", STORED)
    assert counting.calls == 2


def test_login_cache_never_remembers_a_failure() -> None:
    cache, counting, _ = _cache()
    for _ in range(3):
        assert not cache.verify("alice@example.org", "wrong", STORED)
    assert counting.calls == 3
    assert len(cache) == 0
    assert not cache.cached("alice@example.org", "wrong", STORED)


def test_login_cache_entries_expire_after_the_ttl() -> None:
    cache, counting, clock = _cache(ttl=300)
    assert cache.verify("alice@example.org", "s3cret", STORED)
    clock.now += 299
    assert cache.cached("alice@example.org", "s3cret", STORED)
    clock.now += 2
    assert not cache.cached("alice@example.org", "s3cret", STORED)
    assert len(cache) == 0
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert counting.calls == 2


def test_login_cache_a_changed_hash_invalidates() -> None:
    cache, counting, _ = _cache()
    assert cache.verify("alice@example.org", "s3cret", STORED)
    changed = hash_password("n3w", n=2**10)
    assert not cache.cached("alice@example.org", "s3cret", changed)
    assert not cache.verify("alice@example.org", "s3cret", changed)  # the old password
    assert cache.verify("alice@example.org", "n3w", changed)
    same_password_new_salt = hash_password("s3cret", n=2**10)
    assert not cache.cached("alice@example.org", "s3cret", same_password_new_salt)
    assert counting.calls == 3


def test_login_cache_ttl_zero_disables() -> None:
    cache, counting, _ = _cache(ttl=0)
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert counting.calls == 2
    assert len(cache) == 0
    cache.configure(60)
    assert cache.verify("alice@example.org", "s3cret", STORED)
    assert cache.cached("alice@example.org", "s3cret", STORED)
    cache.configure(0)
    assert not cache.cached("alice@example.org", "s3cret", STORED)


def test_login_cache_is_bounded_and_keeps_no_password() -> None:
    counting, clock = _Counting(), _Clock()
    cache = LoginCache(300, entries=3, clock=clock, verify=lambda p, s: True)
    for i in range(5):
        assert cache.verify(f"u{i}@example.org", "pw", "x")
    assert len(cache) == 3
    assert not cache.cached("u0@example.org", "pw", "x")
    assert cache.cached("u4@example.org", "pw", "x")
    assert all(b"pw" not in key for key in cache._expiry)  # HMACs only
    assert counting.calls == 0


def test_login_cache_configured_from_auth_section(tmp_path: Path) -> None:
    (tmp_path / "postoffice.toml").write_text("[auth]\nlogin_cache_ttl = 0\n")
    assert load(tmp_path).auth.login_cache_ttl == 0
    (tmp_path / "postoffice.toml").write_text("")
    assert load(tmp_path).auth.login_cache_ttl == 300
    (tmp_path / "postoffice.toml").write_text("[auth]\nlogin_cache_ttl = -1\n")
    with pytest.raises(ConfigError, match="login_cache_ttl"):
        load(tmp_path)
