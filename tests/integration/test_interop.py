"""Real peers talk to postoffice: swaks submits with AUTH, Postfix relays to our MX."""

import json
import smtplib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from postoffice.testing import peers
from postoffice.testing.postfix import POSTFIX, PostfixInstance
from postoffice.testing.server import ServerProcess, postoffice

pytestmark = pytest.mark.peer
PASSWORD = "interop-Pa55word"
POSTOFFICE = [sys.executable, "-m", "postoffice"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp("interop") / "data")
    with s:
        s.add_user("bob@example.test", PASSWORD)
        s.add_user("alice@example.test", PASSWORD)
        s.start()
        yield s


def inbox(server: ServerProcess, address: str) -> list[dict[str, object]]:
    return json.loads(postoffice("mailbox", "ls", address, "--json", data=server.data).stdout)


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    binary = peers.require_peer("swaks")
    return subprocess.run([binary, "--helo", "swaks.client.example", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_swaks_submits_with_auth(server: ServerProcess, mode: str) -> None:
    listener = "submission" if mode == "starttls" else "submissions"
    host, port = server.address(listener)
    subject = f"swaks over {mode}"
    tls = ["--tls"] if mode == "starttls" else ["--tls-on-connect"]
    result = swaks("--server", f"{host}:{port}", *tls, "--auth", "PLAIN",
                   "--auth-user", "bob@example.test", "--auth-password", PASSWORD,
                   "--from", "bob@example.test", "--to", "alice@example.test",
                   "--header", f"Subject: {subject}", "--header", "From: bob@example.test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Ok: queued as" in result.stdout
    assert any(e["subject"] == subject for e in inbox(server, "alice@example.test"))


def test_swaks_auth_login_and_wrong_password(server: ServerProcess) -> None:
    host, port = server.address("submission")
    result = swaks("--server", f"{host}:{port}", "--tls", "--auth", "LOGIN",
                   "--auth-user", "bob@example.test", "--auth-password", "wrong",
                   "--from", "bob@example.test", "--to", "alice@example.test")
    assert result.returncode != 0
    assert "535 5.7.8" in result.stdout


def test_postfix_relays_to_our_mx(server: ServerProcess) -> None:
    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    mx_host, mx_port = server.address("smtp")
    with PostfixInstance(relay_to=(mx_host, mx_port)) as postfix:
        with smtplib.SMTP(*postfix.address, timeout=10) as client:
            for n in range(3):
                client.sendmail("someone@remote.example", ["alice@example.test", "bob@example.test"],
                                f"From: someone@remote.example\r\nSubject: via postfix {n}\r\n\r\nhi\r\n".encode())
        assert postfix.wait_for_queue_empty(60), postfix.log_tail()
        assert postfix.wait_for_log("status=sent", 10), postfix.log_tail()  # the log is written asynchronously
        log = postfix.log_text()
    assert "status=sent" in log and "250 2.0.0 Ok: queued as" in log
    for address in ("alice@example.test", "bob@example.test"):
        subjects = [e["subject"] for e in inbox(server, address)]
        assert all(f"via postfix {n}" in subjects for n in range(3)), subjects
    entry = inbox(server, "alice@example.test")[-1]
    raw = subprocess.run(
        [*POSTOFFICE, "mailbox", "show", "alice@example.test", str(entry["uid"]), "--data", str(server.data)],
        capture_output=True, check=True).stdout
    trace = [line for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n") if line.startswith(b"Received:")]
    assert len(trace) == 2, raw[:800]  # ours on top of Postfix's
    assert trace[0].startswith(b"Received: from ") and b"[127.0.0.1]" in trace[0]
