"""Configured delivery policy end to end: smarthosts per tenant and sending domain, and
per-pool destination limits, with a real `postoffice serve` and scripted peers."""

import json
import time
from pathlib import Path

import pytest

from postoffice.message.envelope import Recipient
from postoffice.storage import Acceptance, StoredMessage, open_store
from postoffice.storage.ids import new_message_id
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "pw-policy-1"


def queue(server: ServerProcess) -> list[dict[str, object]]:
    return json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)


def wait_for(predicate, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def seed(data: Path, tenant: str, mail_from: str, subject: str) -> None:
    """One queued message for x@remote.example, written straight into the store."""
    store = open_store(data)
    try:
        writer = store.blobs.writer()
        writer.write(f"From: {mail_from}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode())
        pending = writer.finish()
        now = time.time()
        message = StoredMessage(new_message_id(now), pending.digest, pending.size, now, "api",
                                mail_from, "127.0.0.1", "local", None)
        store.accept([(pending, Acceptance(message, (), (Recipient("x@remote.example"),),
                                           tenant=tenant))])
    finally:
        store.close()


def hostport(peer: ScriptedSmtp) -> str:
    host, port = peer.address
    return f"{host}:{port}"


def subjects(peer: ScriptedSmtp) -> list[bytes]:
    return sorted(m.content.split(b"Subject: ")[1].split(b"\r\n")[0] for m in peer.messages)


def test_smarthost_by_tenant_and_sending_domain(tmp_path: Path) -> None:
    acme_script = Script(users={"acme-user": "acme-pw"}, starttls=True)
    with ScriptedSmtp() as everyone, ScriptedSmtp(acme_script) as acme, ScriptedSmtp() as brand:
        server = ServerProcess(tmp_path / "data", config={
            "delivery": {"smarthost": hostport(everyone)},
            "smarthosts": {
                "acme": {"host": hostport(acme), "auth": "acme-user:acme-pw",
                         "tls": "required", "tenants": ["acme"]},
                "brand": {"host": hostport(brand), "domains": ["Brand.example"]},
            },
        })
        server.init()
        data = tmp_path / "data"
        seed(data, "acme", "bob@example.test", "acme tenant")
        # Same tenant, lane and destination: one queue, one batch, two ways out.
        seed(data, "default", "bob@example.test", "default tenant")
        seed(data, "default", "news@brand.example", "brand domain")
        server.start()
        try:
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"] * 3), \
                queue(server)
        finally:
            server.stop()
    assert subjects(acme) == [b"acme tenant"]
    assert acme.sessions[0].auth_user == "acme-user" and acme.sessions[0].tls_version
    assert subjects(brand) == [b"brand domain"]
    assert subjects(everyone) == [b"default tenant"]
    assert all(s.auth_user is None for s in everyone.sessions + brand.sessions)


@pytest.mark.parametrize("limit, most", [(None, range(2, 7)), (1, range(1, 2))])
def test_pool_limit_for_a_site_bounds_concurrent_sessions(
    tmp_path: Path, limit: int | None, most: range
) -> None:
    from postoffice.testing import peers
    from postoffice.testing.dns import KNOTD, AuthoritativeDns

    peers.require_peer("knotd", KNOTD, package="knot")
    zones = {
        "remote.example": {"@": [{"MX": [10, "mx1.hosting.example"]}]},
        "hosting.example": {"mx1": [{"A": "127.0.0.31"}]},
    }
    pool: dict[str, object] = {"addresses": ["127.0.0.3"]}
    if limit is not None:  # the MX site is the MX host's registrable domain
        pool["limits"] = {"hosting.example": {"max_connections": limit}}
    slow = Script(delay={"FINAL": 0.3})  # sessions last long enough to overlap
    with ScriptedSmtp(slow, host="127.0.0.31") as mx, AuthoritativeDns(zones) as dns:
        with ServerProcess(tmp_path / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "delivery": {"mx_port": mx.port, "messages_per_connection": 1},
            "pools": {"shared": pool},
        }) as server:
            server.add_user("bob@example.test", PASSWORD)
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", [f"r{n}@remote.example" for n in range(6)],
                                b"From: bob@example.test\r\nSubject: s\r\n\r\nx\r\n")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"] * 6), \
                queue(server)
    assert len(mx.sessions) == 6
    assert mx.most_open_sessions in most


def test_sandbox_per_tenant_captures_only_that_tenants_mail(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        server = ServerProcess(tmp_path / "data", config={
            "delivery": {"smarthost": hostport(peer), "sandbox_tenants": ["trial"]},
        })
        with server:
            server.start()
            seed(server.data, "trial", "bob@example.test", "trial tenant")
            seed(server.data, "default", "bob@example.test", "paying tenant")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"] * 2), queue(server)
            captured = json.loads(postoffice("mailbox", "ls", "postmaster@example.test", "--json",
                                             data=server.data).stdout)
    assert [e["subject"] for e in captured] == ["trial tenant"]
    assert subjects(peer) == [b"paying tenant"]
