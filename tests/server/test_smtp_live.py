"""The SMTP listeners end to end: a real `postoffice serve` and Python's smtplib."""

import json
import smtplib
import socket
import time

import pytest

from postoffice.testing.server import ServerProcess, insecure_tls_context, postoffice

PASSWORD = "correct horse battery staple"  # the `served` fixture's users


def mx(server: ServerProcess) -> smtplib.SMTP:
    return server.mx()


def submission(server: ServerProcess, login: str | None = "bob@example.test") -> smtplib.SMTP:
    return server.submission(login, PASSWORD)


def submissions(server: ServerProcess, login: str = "bob@example.test") -> smtplib.SMTP_SSL:
    return server.submissions(login, PASSWORD)

MESSAGE = b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\nHi!\r\n"


def mailbox(server: ServerProcess, address: str) -> list[dict[str, object]]:
    out = postoffice("mailbox", "ls", address, "--json", data=server.data)
    return json.loads(out.stdout)


def show(server: ServerProcess, address: str, uid: object) -> bytes:
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", address, str(uid),
                           "--data", str(server.data)], capture_output=True, check=True).stdout


def queue(server: ServerProcess) -> list[dict[str, object]]:
    return json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)


def test_mx_delivers_to_local_mailbox_with_received_header(served: ServerProcess) -> None:
    before = len(mailbox(served, "alice@example.test"))
    with mx(served) as client:
        code, ehlo = client.ehlo("client.example")
        assert code == 250 and b"STARTTLS" in ehlo and b"AUTH" not in ehlo
        refused = client.sendmail("someone@remote.example", ["alice@example.test"],
                                  b"Subject: via mx\r\n\r\nbody\r\n")
        assert refused == {}
    entries = mailbox(served, "alice@example.test")
    assert len(entries) == before + 1
    new = entries[-1]
    assert new["subject"] == "via mx"
    raw = show(served, "alice@example.test", new["uid"])
    first = raw.split(b"\r\n\r\n")[0].decode()
    assert first.startswith("Received: from client.example ([127.0.0.1])\r\n\tby mail.example.test")
    assert "with ESMTP id " in first and "for <alice@example.test>;" in first
    assert raw.endswith(b"\r\n\r\nbody\r\n")


def test_vrfy_is_off_by_default(served: ServerProcess) -> None:
    with mx(served) as client:
        code, text = client.verify("alice@example.test")
        assert code == 252 and text.startswith(b"2.5.2")


def test_mx_offers_no_login_even_after_starttls(served: ServerProcess) -> None:
    with mx(served) as client:
        client.starttls(context=insecure_tls_context())
        client.ehlo("c")
        assert client.has_extn("size") and not client.has_extn("auth")
        code, _ = client.docmd("AUTH", "PLAIN AGJvYkBleGFtcGxlLnRlc3QAeA==")
        assert code in (502, 503, 504)


def test_mx_refuses_relay_and_unknown_users(served: ServerProcess) -> None:
    with mx(served) as client:
        client.ehlo("client.example")
        client.mail("a@remote.example")
        assert client.rcpt("victim@elsewhere.example")[:1] == (554,)
        code, text = client.rcpt("victim%elsewhere.example@example.test")
        assert code == 554 and text.startswith(b"5.7.1")
        # smtplib mangles source routes; send the RFC 5321 form by hand.
        code, text = client.docmd("RCPT TO:<@example.test:victim@elsewhere.example>")
        assert code == 554 and text.startswith(b"5.7.1")
        code, text = client.docmd("RCPT TO:<@elsewhere.example:alice@example.test>")
        assert code == 554 and text.startswith(b"5.7.1")
        code, text = client.rcpt("nobody@example.test")
        assert code == 550 and text.startswith(b"5.1.1")
        assert client.docmd("DATA")[0] == 554


def test_mx_does_not_offer_auth_before_tls_and_submission_requires_auth(served: ServerProcess) -> None:
    host, port = served.address("submission")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.ehlo("c")
        assert not client.has_extn("auth")
        code, text = client.docmd("AUTH", "PLAIN AGJvYgB4")
        assert code == 538 and text.startswith(b"5.7.11")
        code, _ = client.mail("bob@example.test")
        assert code == 530
        client.starttls(context=insecure_tls_context())
        client.ehlo("c")
        assert client.has_extn("auth") and "PLAIN" in client.esmtp_features["auth"]


def test_submission_starttls_auth_queues_remote_and_delivers_local(served: ServerProcess) -> None:
    with submission(served) as client:
        msg = b"From: bob@example.test\r\nTo: x@remote.example\r\nSubject: out\r\n\r\nhello\r\n"
        assert client.sendmail("bob@example.test", ["x@remote.example", "alice@example.test"], msg) == {}
    items = [i for i in queue(served) if i["recipient"] == "x@remote.example"]
    assert items and items[-1]["status"] == "queued" and items[-1]["sender"] == "bob@example.test"
    entry = mailbox(served, "alice@example.test")[-1]
    raw = show(served, "alice@example.test", entry["uid"])
    assert b"with ESMTPSA id" in raw and b"authenticated as bob@example.test" in raw
    # The MSA added what was missing.
    assert b"\r\nDate: " in raw and b"\r\nMessage-ID: <" in raw


def test_submissions_implicit_tls_and_auth_login(served: ServerProcess) -> None:
    with submissions(served, "alice@example.test") as client:
        msg = b"From: alice@example.test\r\nSubject: tls\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n"
        assert client.sendmail("alice@example.test", ["bob@example.test"], msg) == {}
    entry = mailbox(served, "bob@example.test")[-1]
    assert entry["subject"] == "tls" and entry["date"] == "Mon, 1 Jan 2024 00:00:00 +0000"


def test_submission_sender_rules(served: ServerProcess) -> None:
    with submission(served) as client:
        code, text = client.mail("alice@example.test")
        assert code == 553 and text.startswith(b"5.7.1")
        assert client.mail("news@brand.example")[0] == 250  # allowed by --allow-sender @brand.example
        client.rset()
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail("bob@example.test", ["alice@example.test"],
                            b"From: Alice <alice@example.test>\r\n\r\nspoof\r\n")
        assert err.value.smtp_code == 550 and b"5.7.1" in err.value.smtp_error
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail("bob@example.test", ["alice@example.test"], b"Subject: no from\r\n\r\nx\r\n")
        assert err.value.smtp_code == 550 and b"From" in err.value.smtp_error


def test_bad_password_is_refused_and_slowed(served: ServerProcess) -> None:
    host, port = served.address("submissions")
    with smtplib.SMTP_SSL(host, port, timeout=10, context=insecure_tls_context()) as client:
        timings = []
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                client.login("carol-does-not-exist@example.test", "guess")
            timings.append(time.monotonic() - start)
            assert err.value.smtp_code == 535
    # failure_delay 0.2 s doubling: 0.2, 0.4, 0.8
    assert timings[0] >= 0.15 and timings[2] >= 0.7 and timings[2] > timings[0]


def test_size_and_recipient_limits(served: ServerProcess) -> None:
    with mx(served) as client:
        client.ehlo("c")
        limit = int(client.esmtp_features["size"])
        code, text = client.mail("a@remote.example", [f"SIZE={limit + 1}"])
        assert code == 552 and text.startswith(b"5.3.4")


def raw_session(server: ServerProcess, lines: bytes, listener: str = "smtp") -> bytes:
    host, port = server.address(listener)
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(lines)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_pipelined_session_and_bare_lf_rejection(served: ServerProcess) -> None:
    before = len(mailbox(served, "alice@example.test"))
    out = raw_session(served, b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.test>\r\n"
                      b"DATA\r\nSubject: bare\r\n\r\nline one\nMAIL FROM:<evil@x>\n.\nstill body\r\n.\r\n"
                      b"QUIT\r\n")
    assert b"550 5.6.11" in out and b"221 2.0.0" in out
    assert len(mailbox(served, "alice@example.test")) == before


def test_bdat_chunking(served: ServerProcess) -> None:
    body = b"Subject: chunked\r\n\r\nbody\r\n"
    out = raw_session(served, b"EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.test>\r\n"
                      + f"BDAT {len(body) - 6}\r\n".encode() + body[:-6]
                      + b"BDAT 6 LAST\r\n" + body[-6:] + b"QUIT\r\n")
    assert out.count(b"250 2.0.0") >= 2, out
    assert mailbox(served, "alice@example.test")[-1]["subject"] == "chunked"


def test_healthz(served: ServerProcess) -> None:
    import urllib.request
    host, port = served.address("http")
    with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ok"


def test_init_refuses_existing_directory(served: ServerProcess) -> None:
    result = postoffice("init", data=served.data, check=False)
    assert result.returncode == 1 and "refusing to overwrite" in result.stderr
    assert PASSWORD  # fixture users are untouched


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field}")


def test_large_message_streams_without_growing_memory(served: ServerProcess) -> None:
    assert served.process is not None
    line = b"x" * 998 + b"\r\n"
    chunk = line * 1000  # ~1 MB
    with mx(served) as client:
        client.ehlo("c")
        client.mail("big@remote.example", ["SIZE=31000000"])
        client.rcpt("alice@example.test")
        before = rss_kb(served.process.pid)
        hwm_before = rss_kb(served.process.pid, "VmHWM")
        client.putcmd("DATA")
        assert client.getreply()[0] == 354
        client.send(b"Subject: big\r\n\r\n")
        peak = before
        for _ in range(30):
            client.send(chunk)
            peak = max(peak, rss_kb(served.process.pid))
        client.send(b".\r\n")
        code, text = client.getreply()
        assert code == 250, text
    pid = served.process.pid
    growth_mb = max(max(peak, rss_kb(pid)) - before, rss_kb(pid, "VmHWM") - hwm_before) / 1024
    assert growth_mb < 8, f"server grew by {growth_mb:.1f} MB for a 30 MB message"
    entry = mailbox(served, "alice@example.test")[-1]
    assert entry["subject"] == "big" and int(entry["size"]) > 30_000_000  # type: ignore[call-overload]


def test_one_blob_for_all_local_recipients(served: ServerProcess) -> None:
    with mx(served) as client:
        client.sendmail("a@remote.example", ["alice@example.test", "bob@example.test"],
                        b"Subject: shared blob\r\n\r\nx\r\n")
    from postoffice.storage import open_store
    store = open_store(served.data)
    try:
        a = store.list_mailbox("alice@example.test")[-1]
        b = store.list_mailbox("bob@example.test")[-1]
    finally:
        store.close()
    assert a.blob == b.blob and a.message_id == b.message_id
