"""The ManageSieve listener on a real socket, with real clients: the `managesieve` package
and sievelib, both over STARTTLS with SASL PLAIN."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import managesieve
import pytest
from sievelib.managesieve import Client

from memory_script_store import MemoryScriptStore
from postoffice.server.managesieve import ManageSieveListener, serve_managesieve
from postoffice.sieve import SUPPORTED
from postoffice.testing.certs import Authority

USER, PASSWORD = "alice@example.test", "correct horse battery staple"
SCRIPT = 'require "fileinto";\r\nif header :contains "subject" "sale" { fileinto "Junk"; }\r\n'


class RecordingStore(MemoryScriptStore):
    """Remembers the threads it was called on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def list(self, user: str) -> list[tuple[str, bool]]:
        self.threads.add(threading.get_ident())
        return super().list(user)


def check_password(username: str, password: str) -> str | None:
    return USER if (username, password) == (USER, PASSWORD) else None


class Running:
    """A listener on 127.0.0.1 on an event loop of its own thread."""

    def __init__(self, tls: ssl.SSLContext | None, **options: Any) -> None:
        self.store = RecordingStore()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.listener: ManageSieveListener = self.call(serve_managesieve(
            "127.0.0.1", 0, store=self.store, authenticate=check_password, tls_context=tls,
            **options))
        assert self.listener.server is not None
        self.port = int(self.listener.server.sockets[0].getsockname()[1])

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop(self) -> None:
        self.call(self.listener.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def authority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Authority:
    """A CA the clients trust (their default contexts read SSL_CERT_FILE)."""
    ca = Authority(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    return ca


@pytest.fixture
def server(authority: Authority) -> Iterator[Running]:
    running = Running(authority.server("localhost"), idle_timeout=5.0)
    yield running
    running.stop()


def test_managesieve_client_over_starttls(server: Running) -> None:
    client = managesieve.MANAGESIEVE("localhost", server.port, use_tls=True, timeout=10)
    assert client.implementation == "postoffice"
    assert client.loginmechs == ["PLAIN"] and not client.supports_tls
    assert client.capabilities == sorted(SUPPORTED)
    assert client.login("", USER, PASSWORD) == "OK"
    assert client.putscript("filter", SCRIPT) == "OK"
    assert client.putscript("spare", "keep;\r\n") == "OK"
    assert client.setactive("filter") == "OK"
    assert client.listscripts() == ("OK", [("filter", True), ("spare", False)])
    assert client.getscript("filter") == ("OK", SCRIPT)
    assert client.havespace("new", 100) == "OK"
    assert client.havespace("new", 10**6) == "NO" and client.response_code == "QUOTA/MAXSIZE"
    assert client.deletescript("filter") == "NO" and client.response_code == "ACTIVE"
    assert client.putscript("broken", "frobnicate;") == "NO"
    assert client.response_text == "line 1: unknown command 'frobnicate'"
    assert client.getscript("missing")[0] == "NO" and client.response_code == "NONEXISTENT"
    logout(client)
    assert server.store.scripts[USER] == {"filter": SCRIPT, "spare": "keep;\r\n"}
    assert threading.get_ident() not in server.store.threads
    assert server.thread.ident not in server.store.threads  # never on the event loop


def test_sievelib_client_over_starttls(server: Running) -> None:
    client = Client("127.0.0.1", server.port, srvhostname="localhost")
    assert client.connect(USER, PASSWORD, starttls=True, authmech="PLAIN")
    assert client.get_sieve_capabilities() == sorted(SUPPORTED)
    assert not client.checkscript("fileinto \"x\";")
    assert b"'fileinto' is used but not declared" in client.errmsg
    assert client.checkscript(SCRIPT)
    assert client.putscript("first", SCRIPT)
    assert client.renamescript("first", "second")
    assert client.setactive("second")
    assert client.listscripts() == ("second", [])
    assert client.getscript("second") == "\n".join(SCRIPT.splitlines())  # sievelib's lines
    assert client.setactive("")
    assert client.deletescript("second")
    assert client.listscripts() == (None, [])
    client.logout()


def test_wrong_password_is_refused(server: Running) -> None:
    client = managesieve.MANAGESIEVE("localhost", server.port, use_tls=True, timeout=10)
    assert client.login("", USER, "wrong") == "NO"
    assert client.login("", USER, PASSWORD) == "OK"
    logout(client)


def logout(client: managesieve.MANAGESIEVE) -> None:
    """LOGOUT, then close the TLS socket too (the package closes only the one beneath)."""
    assert client.logout() == "OK"
    sslobj = getattr(client.sock, "sslobj", None)
    if sslobj is not None:
        sslobj.close()


def read_until_ok(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\nOK" not in b"\r\n" + data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_no_login_before_tls(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        greeting = read_until_ok(sock)
        assert b'"SASL" ""\r\n' in greeting and b'"STARTTLS"\r\n' in greeting
        sock.sendall(b'AUTHENTICATE "PLAIN" "AGFsaWNlAHB3"\r\n')
        assert sock.recv(4096) == b'NO (ENCRYPT-NEEDED) "Use STARTTLS first"\r\n'


def test_without_certificate_no_starttls() -> None:
    running = Running(None, plaintext_auth="always")
    try:
        client = managesieve.MANAGESIEVE("127.0.0.1", running.port, timeout=10)
        assert not client.supports_tls and client.loginmechs == ["PLAIN"]
        assert client.login("", USER, PASSWORD) == "OK"
        assert client.listscripts() == ("OK", [])
        logout(client)
    finally:
        running.stop()


def test_idle_client_gets_bye(authority: Authority) -> None:
    running = Running(authority.server("localhost"), idle_timeout=0.2)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            read_until_ok(sock)
            assert sock.recv(4096) == b'BYE "Idle timeout, closing connection"\r\n'
            assert sock.recv(4096) == b""
    finally:
        running.stop()
