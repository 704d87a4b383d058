import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.testing.server import ServerProcess

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running server with users bob@ and alice@example.test (password PASSWORD)."""
    server = ServerProcess(tmp_path_factory.mktemp("served") / "data",
                           config={"auth": {"failure_delay": 0.2, "failure_delay_max": 1.0}})
    with server:
        server.add_user("bob@example.test", PASSWORD, "--allow-sender", "@brand.example")
        server.add_user("alice@example.test", PASSWORD)
        server.start()
        yield server


def client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def mx(server: ServerProcess) -> smtplib.SMTP:
    host, port = server.address("smtp")
    return smtplib.SMTP(host, port, timeout=10)


def submission(server: ServerProcess, login: str | None = "bob@example.test") -> smtplib.SMTP:
    host, port = server.address("submission")
    client = smtplib.SMTP(host, port, timeout=10)
    client.starttls(context=client_tls())
    if login:
        client.login(login, PASSWORD)
    return client


def submissions(server: ServerProcess, login: str = "bob@example.test") -> smtplib.SMTP_SSL:
    host, port = server.address("submissions")
    client = smtplib.SMTP_SSL(host, port, timeout=10, context=client_tls())
    client.login(login, PASSWORD)
    return client


def data_dir(server: ServerProcess) -> Path:
    return server.data
