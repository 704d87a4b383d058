"""ManageSieve's login (server/sieve_scripts.authenticate) goes through the login cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from postoffice.credentials import LOGINS, hash_password, verify_password
from postoffice.server.sieve_scripts import _with_store, authenticate
from postoffice.storage import open_store

ALICE = "alice@example.org"


def test_sieve_login_uses_the_login_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return verify_password(password, stored)
    monkeypatch.setattr(LOGINS, "_verify", counting)
    LOGINS.clear()
    store = open_store(tmp_path)
    try:
        store.add_domain("example.org")
        store.add_user(ALICE, hash_password("pw", n=2**10))
        for _ in range(3):
            assert _with_store(store, lambda: authenticate(ALICE, "pw")) == ALICE
        assert _with_store(store, lambda: authenticate(ALICE, "nope")) is None
        assert _with_store(store, lambda: authenticate(ALICE, "nope")) is None
        assert calls == ["pw", "nope", "nope"]
    finally:
        store.close()
        LOGINS.clear()
