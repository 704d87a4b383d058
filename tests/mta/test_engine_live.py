"""The delivery engine end to end: a real `postoffice serve` delivering to scripted peers."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.proto.smtp.reply import Reply
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "pw-engine-1"
MESSAGE = b"From: bob@example.test\r\nTo: x@remote.example\r\nSubject: %s\r\n\r\nhello\r\n"


def queue(server: ServerProcess) -> list[dict[str, object]]:
    return json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)


def wait_for(predicate, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def peer() -> Iterator[ScriptedSmtp]:
    script = Script(rcpt={"nobody@remote.example": Reply(550, "5.1.1", "No such user"),
                          "later@remote.example": Reply(451, "4.3.0", "Try again later")})
    with ScriptedSmtp(script) as smtp:
        yield smtp


@pytest.fixture
def server(tmp_path: Path, peer: ScriptedSmtp) -> Iterator[ServerProcess]:
    host, port = peer.address
    s = ServerProcess(tmp_path / "data", config={"delivery": {"smarthost": f"{host}:{port}"}})
    with s:
        s.add_user("bob@example.test", PASSWORD)
        s.start()
        yield s


def test_submitted_mail_is_delivered_with_per_recipient_outcomes(
    server: ServerProcess, peer: ScriptedSmtp
) -> None:
    with server.submission("bob@example.test", PASSWORD) as client:
        refused = client.sendmail("bob@example.test",
                                  ["x@remote.example", "nobody@remote.example", "later@remote.example"],
                                  MESSAGE % b"outbound")
        assert refused == {}
    assert wait_for(lambda: {q["status"] for q in queue(server)} >= {"delivered", "failed", "deferred"})
    items = {q["recipient"]: q for q in queue(server)}
    assert items["x@remote.example"]["status"] == "delivered"
    assert items["nobody@remote.example"]["status"] == "failed"
    assert "5.1.1" in str(items["nobody@remote.example"]["last_error"])
    deferred = items["later@remote.example"]
    assert deferred["status"] == "deferred" and deferred["attempts"] == 1
    received = [m for s in peer.sessions for m in s.messages]
    assert len(received) == 1 and received[0].recipients == ("x@remote.example",)
    assert received[0].mail_from.startswith("bounce+")  # a VERP return path (test_verp_live.py)
    assert received[0].mail_from.endswith("@example.test")
    assert b"Subject: outbound" in received[0].content
    # The failure comes back to the sender as a DSN in their mailbox, from the null sender.
    def bounced() -> list[dict[str, object]]:
        inbox = json.loads(postoffice("mailbox", "ls", "bob@example.test", "--json", data=server.data).stdout)
        return [e for e in inbox if "Undelivered" in str(e["subject"])]
    assert wait_for(lambda: bool(bounced()))
    uid = bounced()[0]["uid"]
    import subprocess
    import sys
    raw = subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", "bob@example.test",
                          str(uid), "--data", str(server.data)], capture_output=True, check=True).stdout
    assert b"multipart/report" in raw and b"report-type=delivery-status" in raw
    assert b"Final-Recipient: rfc822; nobody@remote.example" in raw
    assert b"Status: 5.1.1" in raw and b"later@remote.example" not in raw.split(b"\r\n\r\n", 1)[0]


def test_sandbox_captures_instead_of_delivering(tmp_path: Path, peer: ScriptedSmtp) -> None:
    host, port = peer.address
    with ServerProcess(tmp_path / "data", config={
        "delivery": {"smarthost": f"{host}:{port}", "sandbox": True},
    }) as server:
        server.add_user("bob@example.test", PASSWORD)
        server.start()
        with server.submission("bob@example.test", PASSWORD) as client:
            client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"sandboxed")
        assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"])
        captured = json.loads(postoffice("mailbox", "ls", "postmaster@example.test", "--json",
                                         data=server.data).stdout)
        assert [e["subject"] for e in captured] == ["sandboxed"]
    assert peer.sessions == []


def test_outbound_mail_is_dkim_signed_and_verifies(server: ServerProcess, peer: ScriptedSmtp) -> None:
    dkim = pytest.importorskip("dkim")
    with server.submission("bob@example.test", PASSWORD) as client:
        client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"signed")
    assert wait_for(lambda: any(m for s in peer.sessions for m in s.messages))
    content = [m for s in peer.sessions for m in s.messages][-1].content
    assert content.startswith(b"DKIM-Signature: ")
    assert content.count(b"DKIM-Signature: ") == 2  # RSA and Ed25519
    records = json.loads(postoffice("domain", "dns", "example.test", "--json", data=server.data).stdout)
    zone = {r["name"] + ".": r["value"].encode() for r in records if r["type"] == "TXT"}

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return zone.get(name.decode(), b"")

    verifier = dkim.DKIM(content)
    assert verifier.verify(idx=0, dnsfunc=dnsfunc)
    assert verifier.verify(idx=1, dnsfunc=dnsfunc)


def test_mx_fallback_and_ip_pool_binding_with_real_dns(tmp_path: Path) -> None:
    from postoffice.testing import peers
    from postoffice.testing.dns import KNOTD, AuthoritativeDns

    peers.require_peer("knotd", KNOTD, package="knot")
    zone = {
        "@": [{"MX": [10, "mx1.remote.example"]}, {"MX": [20, "mx2.remote.example"]}],
        "mx1": [{"A": "127.0.0.21"}],  # nothing listens there: connection refused
        "mx2": [{"A": "127.0.0.22"}],
    }
    with ScriptedSmtp(Script(), host="127.0.0.22") as mx2, AuthoritativeDns({"remote.example": zone}) as dns:
        with ServerProcess(tmp_path / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "delivery": {"mx_port": mx2.port},
            "pools": {"shared": {"addresses": [{"address": "127.0.0.3", "ehlo": "out3.example.test"}]}},
        }) as server:
            server.add_user("bob@example.test", PASSWORD)
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"via mx2")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"]), queue(server)
    session = mx2.sessions[-1]
    assert session.peer[0] == "127.0.0.3"  # left from the pool's address
    from postoffice.storage import open_store
    with open_store(tmp_path / "data") as store:  # counted under the MX site, from the pool's IP
        now = time.time()
        by_provider = store.stats("default", group_by="provider", since=now - 3600, until=now + 60)
        by_ip = store.stats("default", group_by="ip", since=now - 3600, until=now + 60)
    assert {r.key: r.counts.get("delivered") for r in by_provider} == {"": None,
                                                                        "remote.example": 1}
    assert {r.key: r.counts.get("delivered") for r in by_ip}["127.0.0.3"] == 1
    assert any(c.upper().startswith("EHLO OUT3.EXAMPLE.TEST") for c in session.commands)
    assert b"Subject: via mx2" in session.messages[0].content


@pytest.mark.peer
def test_real_postfix_receives_over_starttls(tmp_path: Path) -> None:
    from postoffice.server.tls import generate_self_signed
    from postoffice.testing import peers
    from postoffice.testing.postfix import POSTFIX, PostfixInstance

    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    cert, key = tmp_path / "pf-cert.pem", tmp_path / "pf-key.pem"
    generate_self_signed("sink.remote.example", cert, key)
    tls = {"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": str(cert),
           "smtpd_tls_key_file": str(key), "smtpd_tls_loglevel": "1"}
    with PostfixInstance(hold=True, main_cf=tls) as postfix:
        host, port = postfix.address
        with ServerProcess(tmp_path / "data", config={
            "delivery": {"smarthost": f"{host}:{port}", "smarthost_tls": "required"},
        }) as server:
            server.add_user("bob@example.test", PASSWORD)
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"to postfix")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"]), queue(server)
        assert postfix.wait_for_queue_count("hold", 1, 15) == 1
        assert postfix.wait_for_log("TLS connection established from", 10), postfix.log_tail()


def test_kill_9_during_delivery_delivers_at_least_once_at_most_twice(tmp_path: Path) -> None:
    slow = Script(delay={"FINAL": 1.5})
    with ScriptedSmtp(slow) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data", config={"delivery": {"smarthost": f"{host}:{port}"}})
        server.init()
        server.add_user("bob@example.test", PASSWORD)
        server.start()
        with server.submission("bob@example.test", PASSWORD) as client:
            for n in range(5):
                client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % f"m{n}".encode())
        assert wait_for(lambda: any(s.messages or s.commands for s in peer.sessions))
        time.sleep(0.3)  # in the middle of a transaction (the peer sits on the final reply)
        server.kill()
        server.start()
        try:
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"] * 5, 30), queue(server)
        finally:
            server.stop()
    subjects = [m.content.split(b"Subject: ")[1].split(b"\r\n")[0] for s in peer.sessions for m in s.messages]
    for n in range(5):
        assert 1 <= subjects.count(f"m{n}".encode()) <= 2, subjects
    assert "recovered" in server.log_text()


def test_delay_notice_when_notify_asks_for_it(tmp_path: Path, peer: ScriptedSmtp) -> None:
    host, port = peer.address
    with ServerProcess(tmp_path / "data", config={
        "delivery": {"smarthost": f"{host}:{port}", "delay_notice_after": 0.5},
    }) as server:
        server.add_user("bob@example.test", PASSWORD)
        server.start()
        with server.submission("bob@example.test", PASSWORD) as client:
            client.sendmail("bob@example.test", ["later@remote.example", "x@remote.example"],
                            MESSAGE % b"slow one", rcpt_options=["NOTIFY=DELAY,FAILURE"])

        def notices() -> list[dict[str, object]]:
            inbox = json.loads(postoffice("mailbox", "ls", "bob@example.test", "--json", data=server.data).stdout)
            return [e for e in inbox if "Delayed" in str(e["subject"])]

        assert wait_for(lambda: len(notices()) == 1)
        time.sleep(1.0)  # the engine polls again: still exactly one notice per item
        assert len(notices()) == 1
        import subprocess
        import sys
        raw = subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", "bob@example.test",
                              str(notices()[0]["uid"]), "--data", str(server.data)],
                             capture_output=True, check=True).stdout
        assert b"Action: delayed" in raw and b"Status: 4.3.0" in raw and b"Will-Retry-Until:" in raw
        assert b"Final-Recipient: rfc822; later@remote.example" in raw
        assert b"x@remote.example" not in raw.split(b"message/delivery-status")[1].split(b"--")[0]


def test_per_domain_tls_policy_required_defers_without_starttls(tmp_path: Path) -> None:
    from postoffice.testing import peers
    from postoffice.testing.dns import KNOTD, AuthoritativeDns

    peers.require_peer("knotd", KNOTD, package="knot")
    zone = {"@": [{"MX": [10, "mx.strict.example"]}], "mx": [{"A": "127.0.0.23"}]}
    with ScriptedSmtp(Script(starttls=False), host="127.0.0.23") as mx, \
            AuthoritativeDns({"strict.example": zone}) as dns:
        with ServerProcess(tmp_path / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "delivery": {"mx_port": mx.port},
            "tls_policy": {"strict.example": "required"},
        }) as server:
            server.add_user("bob@example.test", PASSWORD)
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@strict.example"], MESSAGE % b"secret")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["deferred"]), queue(server)
            assert "4.7." in str(queue(server)[0]["last_error"])
    assert not [m for s in mx.sessions for m in s.messages]  # nothing sent in the clear


def test_dev_install_captures_mail_for_domains_without_dns(tmp_path: Path) -> None:
    from postoffice.testing import peers
    from postoffice.testing.dns import KNOTD, AuthoritativeDns

    peers.require_peer("knotd", KNOTD, package="knot")
    # A resolver that knows nothing: every remote domain is NXDOMAIN or SERVFAIL.
    with AuthoritativeDns({"unrelated.example": {"@": [{"A": "127.0.0.9"}]}}) as dns:
        data = tmp_path / "data"
        postoffice("init", "--ports", "dev", data=data)  # the preset `make run` uses
        text = (data / "postoffice.toml").read_text()
        assert "sandbox_unroutable = true" in text
        (data / "postoffice.toml").write_text(
            text.replace('"127.0.0.1:2525"', '"127.0.0.1:0"').replace('"127.0.0.1:2587"', '"127.0.0.1:0"')
            .replace('"127.0.0.1:2465"', '"127.0.0.1:0"').replace('"127.0.0.1:8025"', '"127.0.0.1:0"')
            .replace("nameservers = []", f'nameservers = ["{dns.nameserver}"]'))
        server = ServerProcess(data)
        server.add_user("bob@example.test", PASSWORD)
        server.start()
        try:
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@nowhere.example"], MESSAGE % b"dev capture")
            assert wait_for(lambda: [q["status"] for q in queue(server)] == ["delivered"]), queue(server)
            captured = json.loads(postoffice("mailbox", "ls", "postmaster@example.test", "--json",
                                             data=data).stdout)
            assert [e["subject"] for e in captured] == ["dev capture"]
            assert "without working DNS is captured" in server.log_text()
        finally:
            server.stop()


def test_batches_to_the_same_place_reuse_one_session(server: ServerProcess, peer: ScriptedSmtp) -> None:
    """Messages submitted one after another (each its own batch) go over one SMTP session,
    which is closed with QUIT once it has been idle for a while."""
    with server.submission("bob@example.test", PASSWORD) as client:
        for n in range(3):
            client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % f"reuse {n}".encode())
            assert wait_for(lambda n=n: len(peer.messages) == n + 1, 10)
    assert len(peer.sessions) == 1, [s.commands for s in peer.sessions]
    assert wait_for(lambda: peer.sessions[0].ended == "quit", 10), peer.sessions[0].ended
    assert [q["status"] for q in queue(server)] == ["delivered"] * 3


def test_a_parked_session_the_peer_closed_is_not_used(server: ServerProcess, peer: ScriptedSmtp) -> None:
    with server.submission("bob@example.test", PASSWORD) as client:
        client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"first")
        assert wait_for(lambda: len(peer.messages) == 1, 10)
        peer.hang_up()  # while our session waits for the next batch
        time.sleep(0.2)
        client.sendmail("bob@example.test", ["x@remote.example"], MESSAGE % b"second")
    assert wait_for(lambda: len(peer.messages) == 2, 10)
    assert [(q["status"], q["attempts"]) for q in queue(server)] == [("delivered", 1)] * 2
    assert len(peer.sessions) == 2
