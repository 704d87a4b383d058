from collections.abc import Iterator

import pytest

from postoffice.testing.server import ServerProcess

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running server with users bob@ and alice@example.test (password PASSWORD)."""
    server = ServerProcess(tmp_path_factory.mktemp("served") / "data",
                           config={"auth": {"failure_delay": 0.2, "failure_delay_max": 1.0},
                                   "delivery": {"paused": True}})  # queued mail stays queued
    with server:
        server.add_user("bob@example.test", PASSWORD, "--allow-sender", "@brand.example")
        server.add_user("alice@example.test", PASSWORD)
        server.start()
        yield server
