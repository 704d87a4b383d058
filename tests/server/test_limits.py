from postoffice.server.limits import AuthThrottle, ConnectionLimiter


def test_connection_limiter_total_and_per_ip() -> None:
    limiter = ConnectionLimiter(max_total=3, max_per_ip=2)
    assert limiter.acquire("a") is None and limiter.acquire("a") is None
    assert limiter.acquire("a") == "per-ip"
    assert limiter.acquire("b") is None
    assert limiter.acquire("c") == "total"
    limiter.release("a")
    assert limiter.acquire("c") is None


def test_auth_throttle_grows_per_ip_and_per_account_and_expires() -> None:
    now = [0.0]
    throttle = AuthThrottle(base=1.0, cap=8.0, window=100.0, monotonic=lambda: now[0])
    assert throttle.delay("1.1.1.1", "bob") == 0
    for expected in (1.0, 2.0, 4.0, 8.0, 8.0):
        throttle.failed("1.1.1.1", "bob")
        assert throttle.delay("1.1.1.1", "bob") == expected
    # Another address guessing the same account is slowed down too, and vice versa.
    assert throttle.delay("2.2.2.2", "BOB") == 8.0
    assert throttle.delay("1.1.1.1", "carol") == 8.0
    now[0] = 1000.0
    assert throttle.delay("1.1.1.1", "bob") == 0
