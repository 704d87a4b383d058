"""Limits and defences of the SMTP listeners, against a real server process."""

import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from postoffice.testing.server import ServerProcess, insecure_tls_context


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("strict") / "data", config={
        "smtp": {"max_connections_per_ip": 3, "command_timeout": 1.0, "max_recipients": 2,
                 "max_errors": 3, "max_message_size": 2000, "transaction_timeout": 4.0,
                 "vrfy": True},
        "relay": {"trusted_networks": ["127.0.0.2/32"]},
        "delivery": {"paused": True},
    })
    with server:
        server.add_user("bob@example.test", "pw-strict-1")
        server.add_user("alice@example.test", "pw-strict-1")
        server.start()
        yield server


def connect(server: ServerProcess, listener: str = "smtp") -> socket.socket:
    sock = socket.create_connection(server.address(listener), timeout=10)
    return sock


def reply(sock: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        lines = data.split(b"\r\n")
        if data.endswith(b"\r\n") and lines[-2][3:4] == b" ":
            return data


def test_connections_per_ip(strict: ServerProcess) -> None:
    socks = [connect(strict) for _ in range(3)]
    try:
        for s in socks:
            assert reply(s).startswith(b"220 ")
        extra = connect(strict)
        assert reply(extra).startswith(b"421 4.7.0")
        assert extra.recv(10) == b""  # and closed
        extra.close()
    finally:
        for s in socks:
            s.close()
    # Leave the server as found: wait until it has seen the closes and takes connections again.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with connect(strict) as probe:
            if reply(probe).startswith(b"220 "):
                break
        time.sleep(0.05)


def test_idle_client_times_out(strict: ServerProcess) -> None:
    with connect(strict) as s:
        assert reply(s).startswith(b"220 ")
        start = time.monotonic()
        assert reply(s).startswith(b"421 4.4.2")
        assert 0.8 < time.monotonic() - start < 5


def test_slow_client_hits_session_timeout(strict: ServerProcess) -> None:
    with connect(strict) as s:
        assert reply(s).startswith(b"220 ")
        start = time.monotonic()
        received = b""
        while time.monotonic() - start < 8:
            s.sendall(b"NOOP\r\n")  # busy enough for the command timeout, never done
            received += reply(s)
            if b"421" in received:
                break
            time.sleep(0.5)
        assert b"421 4.4.2" in received
        assert 3.5 < time.monotonic() - start < 7


def test_too_many_recipients_and_errors(strict: ServerProcess) -> None:
    with connect(strict) as s:
        reply(s)
        s.sendall(b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.test>\r\n"
                  b"RCPT TO:<alice@example.test>\r\nRCPT TO:<postmaster@example.test>\r\n")
        out = b""
        while out.count(b"\r\n") < 12:
            out += s.recv(4096)
        assert b"452 4.5.3" in out
    with connect(strict) as s:
        reply(s)
        s.sendall(b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")
        out = b""
        while chunk := s.recv(4096):
            out += chunk
        assert out.endswith(b"500 5.5.1 Command unrecognized\r\n" * 3 + b"421 4.7.0 Too many errors\r\n")
        assert b"250" not in out  # NOOP after the limit was never run


def test_message_over_size_limit_while_streaming(strict: ServerProcess) -> None:
    with connect(strict) as s:
        reply(s)
        s.sendall(b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        out = b""
        while b"354" not in out:
            out += s.recv(4096)
        s.sendall(b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" + b"y" * 998 + b"\r\n.\r\n")
        assert reply(s).startswith(b"552 5.3.4")
        s.sendall(b"NOOP\r\n")
        assert reply(s).startswith(b"250")


def test_long_command_line(strict: ServerProcess) -> None:
    with connect(strict) as s:
        reply(s)
        s.sendall(b"EHLO " + b"a" * 5000 + b"\r\nNOOP\r\n")
        out = b""
        while b"250" not in out:
            out += s.recv(4096)
        assert out.startswith(b"500 5.5.2")


def test_starttls_injection_is_discarded(strict: ServerProcess) -> None:
    with connect(strict) as raw:
        reply(raw)
        raw.sendall(b"EHLO c\r\n")
        reply(raw)
        # Commands injected after STARTTLS in the same packet must not run after the handshake.
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\n")
        assert reply(raw).startswith(b"220 2.0.0")
        tls = insecure_tls_context().wrap_socket(raw, server_hostname="mail.example.test")
        tls.sendall(b"RCPT TO:<bob@example.test>\r\n")
        assert reply(tls).startswith(b"503 5.5.1")  # no MAIL, no EHLO: the injection was dropped
        tls.sendall(b"EHLO c\r\n")
        ehlo = reply(tls)
        assert ehlo.startswith(b"250") and b"STARTTLS" not in ehlo
        tls.sendall(b"QUIT\r\n")
        assert reply(tls).startswith(b"221")
        tls.close()


def test_vrfy_when_enabled(strict: ServerProcess) -> None:
    with connect(strict) as s:
        reply(s)
        s.sendall(b"EHLO c\r\n")
        reply(s)
        for command, expected in ((b"VRFY <bob@example.test>", b"250 2.1.5 <bob@example.test>"),
                                  (b"VRFY nobody@example.test", b"550 5.1.1"),
                                  (b"VRFY someone@elsewhere.example", b"252 2.5.2")):
            s.sendall(command + b"\r\n")
            assert reply(s).startswith(expected), command


def test_trusted_network_may_relay_through_the_mx(strict: ServerProcess) -> None:
    import smtplib

    host, port = strict.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=("127.0.0.2", 0)) as trusted:
        assert trusted.sendmail("app@example.test", ["someone@remote.example"],
                                b"Subject: relayed\r\n\r\nx\r\n") == {}
    with smtplib.SMTP(host, port, timeout=10) as stranger:  # 127.0.0.1
        stranger.ehlo("c")
        stranger.mail("app@example.test")
        code, text = stranger.rcpt("someone@remote.example")
        assert code == 554 and text.startswith(b"5.7.1")
    import json

    from postoffice.testing.server import postoffice
    queued = json.loads(postoffice("queue", "ls", "--json", data=strict.data).stdout)
    assert [q["recipient"] for q in queued] == ["someone@remote.example"]
