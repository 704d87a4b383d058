"""MTA-STS in delivery, end to end: a real `postoffice serve`, Knot DNS serving the recipient
domain (MX, `_mta-sts` TXT, the policy host's address), the policy over HTTPS on port 443 of a
loopback address, and a scripted MX whose certificate comes from the same test CA (trusted by
the server through SSL_CERT_FILE)."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.testing import peers
from postoffice.testing.certs import Authority, PolicyServer, Reply
from postoffice.testing.dns import KNOTD, AuthoritativeDns
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "pw-mta-sts-1"
DOMAIN = "sts.example"
MX_NAME, MX_IP, POLICY_IP = f"mx.{DOMAIN}", "127.0.0.52", "127.0.0.51"
MESSAGE = b"From: bob@example.test\r\nTo: x@sts.example\r\nSubject: %s\r\n\r\nhello\r\n"


def policy(mode: str, mx: str) -> bytes:
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n".encode()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Authority, PolicyServer, AuthoritativeDns]]:
    peers.require_peer("knotd", KNOTD, package="knot")
    peers.require_root("the MTA-STS policy host listens on port 443")
    ca = Authority(tmp_path)
    https = PolicyServer(ca.server(f"mta-sts.{DOMAIN}"), host=POLICY_IP, port=443)
    zone = {
        "@": [{"MX": [10, MX_NAME]}],
        "mx": [{"A": MX_IP}],
        "_mta-sts": [{"TXT": "v=STSv1; id=20261123;"}],
        "mta-sts": [{"A": POLICY_IP}],
    }
    try:
        with AuthoritativeDns({DOMAIN: zone}) as dns:
            yield ca, https, dns
    finally:
        https.stop()


def deliver(tmp_path: Path, dns: AuthoritativeDns, ca: Authority, mx: ScriptedSmtp, subject: bytes) -> list[dict[str, object]]:
    server = ServerProcess(tmp_path / "data", config={
        "dns": {"nameservers": [dns.nameserver]},
        "delivery": {"mx_port": mx.port},
    }, env={"SSL_CERT_FILE": str(ca.ca_file)})
    with server:
        server.add_user("bob@example.test", PASSWORD)
        server.start()
        with server.submission("bob@example.test", PASSWORD) as client:
            client.sendmail("bob@example.test", [f"x@{DOMAIN}"], MESSAGE % subject)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            items = json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)
            if items and items[0]["status"] != "queued":
                break
            time.sleep(0.1)
        log = server.log_text()
    return [dict(i, log=log) for i in items]


def test_enforce_delivers_over_verified_tls_to_a_named_mx(tmp_path: Path, world: tuple[Authority, PolicyServer, AuthoritativeDns]) -> None:
    ca, https, dns = world
    https.reply = Reply(body=policy("enforce", MX_NAME))
    with ScriptedSmtp(Script(starttls=True), host=MX_IP, tls_context=ca.server(MX_NAME)) as mx:
        items = deliver(tmp_path, dns, ca, mx, b"enforced")
    assert [i["status"] for i in items] == ["delivered"], (items[0]["last_error"], items[0]["log"])
    assert https.requests and https.requests[0] == (f"mta-sts.{DOMAIN}", "/.well-known/mta-sts.txt")
    (session,) = [s for s in mx.sessions if s.messages]
    assert session.tls_version is not None  # the message went over TLS
    assert (tmp_path / "data" / "cache" / "mta-sts" / f"{DOMAIN}.json").exists()


def test_enforce_never_uses_an_mx_the_policy_does_not_name(tmp_path: Path, world: tuple[Authority, PolicyServer, AuthoritativeDns]) -> None:
    ca, https, dns = world
    https.reply = Reply(body=policy("enforce", "mx.elsewhere.example"))
    with ScriptedSmtp(Script(starttls=True), host=MX_IP, tls_context=ca.server(MX_NAME)) as mx:
        items = deliver(tmp_path, dns, ca, mx, b"not to that mx")
    assert [i["status"] for i in items] == ["deferred"], items  # a retry, never a bounce
    assert "4.7.5" in str(items[0]["last_error"]) and "MTA-STS" in str(items[0]["last_error"])
    assert not mx.sessions  # not even a connection


def test_enforce_refuses_a_certificate_that_does_not_verify(tmp_path: Path, world: tuple[Authority, PolicyServer, AuthoritativeDns]) -> None:
    ca, https, dns = world
    https.reply = Reply(body=policy("enforce", MX_NAME))
    with ScriptedSmtp(Script(starttls=True), host=MX_IP) as mx:  # self-signed, for another name
        items = deliver(tmp_path, dns, ca, mx, b"secret")
    assert [i["status"] for i in items] == ["deferred"], items
    assert "4.7." in str(items[0]["last_error"])
    assert not [m for s in mx.sessions for m in s.messages]  # nothing sent


def test_testing_mode_delivers_and_reports(tmp_path: Path, world: tuple[Authority, PolicyServer, AuthoritativeDns]) -> None:
    ca, https, dns = world
    https.reply = Reply(body=policy("testing", "mx.elsewhere.example"))
    with ScriptedSmtp(Script(starttls=True), host=MX_IP) as mx:  # self-signed: testing mode does not verify
        items = deliver(tmp_path, dns, ca, mx, b"testing mode")
    assert [i["status"] for i in items] == ["delivered"], items
    assert "MTA-STS testing for sts.example" in str(items[0]["log"])
