"""Where a login may travel without TLS."""

import pytest

from postoffice.policy.logins import plaintext_login_allowed


@pytest.mark.parametrize(("setting", "ip", "allowed"), [
    ("always", "192.0.2.1", True),
    ("loopback", "127.0.0.1", True),
    ("loopback", "127.9.9.9", True),
    ("loopback", "::1", True),
    ("loopback", "192.0.2.1", False),
    ("loopback", "not an address", False),
    ("never", "127.0.0.1", False),
    ("sometimes", "127.0.0.1", False),
])
def test_plaintext_login_allowed(setting: str, ip: str, allowed: bool) -> None:
    assert plaintext_login_allowed(setting, ip) is allowed
