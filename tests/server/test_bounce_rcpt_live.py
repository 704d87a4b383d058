"""Bounces to VERP return paths at the MX of a real `postoffice serve`."""

import json
import subprocess
import sys

from postoffice.policy.verp import VerpToken, encode
from postoffice.storage import open_store
from postoffice.storage.events import Event
from postoffice.storage.ids import new_message_id
from postoffice.testing.server import ServerProcess, postoffice

BOUNCE = b"From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered Mail\r\n\r\nno such user\r\n"


def return_path(server: ServerProcess, token: VerpToken, secret: bytes | None = None) -> str:
    key = secret or (server.data / "keys" / "verp.key").read_bytes()
    return encode(token=token, domain="example.test", secret=key)


def postmaster(server: ServerProcess) -> list[dict[str, object]]:
    out = postoffice("mailbox", "ls", "postmaster@example.test", "--json", data=server.data)
    return json.loads(out.stdout)


def test_a_verified_return_path_is_filed_in_the_bounce_mailbox(served: ServerProcess) -> None:
    message_id = new_message_id(0)
    address = return_path(served, VerpToken(item=31, message_id=message_id))
    before = len(postmaster(served))
    with served.mx() as client:
        client.ehlo("mx.remote.example")
        client.mail("")
        assert client.rcpt(address)[0] == 250
        code, _ = client.data(BOUNCE)
        assert code == 250
    entries = postmaster(served)
    assert len(entries) == before + 1 and entries[-1]["subject"] == "Undelivered Mail"
    raw = subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", "postmaster@example.test",
                          str(entries[-1]["uid"]), "--data", str(served.data)],
                         capture_output=True, check=True).stdout
    first, second = raw.split(b"\r\n")[:2]
    assert first == f"X-Postoffice-Bounce: message={message_id}; item=31".encode()
    assert second.startswith(b"Received: from mx.remote.example")
    assert raw.endswith(BOUNCE)


def test_forged_return_paths_are_unknown_users(served: ServerProcess) -> None:
    token = VerpToken(item=31, message_id=new_message_id(0))
    good = return_path(served, token)
    local, domain = good.split("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    forged = [f"{flipped}@{domain}", return_path(served, token, secret=b"x" * 32)]
    with served.mx() as client:
        client.ehlo("mx.remote.example")
        client.mail("")
        for address in forged:
            code, text = client.rcpt(address)
            assert (code, text[:5]) == (550, b"5.1.1"), address


# -- the feedback loop: bounces and complaints become events and suppressions ---------------

SUBMITTER = ("bob@example.test", "correct horse battery staple")


def submit(server: ServerProcess, to: str, subject: str, message_id: str) -> dict[str, object]:
    """Submit one message (delivery is paused: it stays queued); its queue item."""
    with server.submission(*SUBMITTER) as client:
        client.sendmail(SUBMITTER[0], [to], (
            f"From: {SUBMITTER[0]}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n\r\nhello\r\n").encode())
    items = json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)
    return next(i for i in items if i["recipient"] == to)


def suppressions(server: ServerProcess) -> dict[str, dict[str, object]]:
    out = postoffice("suppress", "ls", "--tenant", "default", "--json", data=server.data)
    return {str(s["address"]): s for s in json.loads(out.stdout)}


def events(server: ServerProcess, message_id: str) -> list[Event]:
    with open_store(server.data) as store:
        return store.message_events("default", message_id)


DSN = """From: MAILER-DAEMON@far.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered to one or more recipients.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.far.example

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

--B--
""".replace("\n", "\r\n")


def test_a_dsn_to_a_return_path_is_a_hard_bounce_and_a_suppression(
        served: ServerProcess) -> None:
    item = submit(served, "ann@far.example", "to bounce", "<dsn-test@example.test>")
    message_id = str(item["message_id"])
    address = return_path(served, VerpToken(item=int(str(item["id"])), message_id=message_id))
    with served.mx() as client:
        client.ehlo("mx.far.example")
        assert client.sendmail("", [address], DSN.format(rcpt="ann@far.example")) == {}
    bounced = [e for e in events(served, message_id) if e.type == "bounced"]
    assert [(e.recipient, e.reason, e.bounce) for e in bounced] == [
        ("ann@far.example", "user_unknown", "hard")]
    assert "5.1.1" in bounced[0].detail and "User unknown" in bounced[0].detail
    found = suppressions(served)["ann@far.example"]
    assert (found["reason"], found["expires_at"], found["source_message"]) == (
        "hard_bounce", None, message_id)


ARF = """From: feedback@isp.example
Subject: complaint about a message
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="A"

--A
Content-Type: text/plain

This is an email abuse report.

--A
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1

--A
Content-Type: message/rfc822

From: bob@example.test
To: carl@far.example
Subject: hello
Message-ID: <arf-test@example.test>

hello
--A--
""".replace("\n", "\r\n")


def test_an_arf_report_to_the_feedback_address_is_a_complaint_and_a_suppression(
        served: ServerProcess) -> None:
    item = submit(served, "carl@far.example", "complained about", "<arf-test@example.test>")
    with served.mx() as client:
        client.ehlo("mx.isp.example")
        assert client.sendmail("feedback@isp.example", ["fbl@example.test"], ARF) == {}
    complained = [e for e in events(served, str(item["message_id"]))
                  if e.type == "complained"]
    assert [(e.recipient, e.reason) for e in complained] == [("carl@far.example", "complaint")]
    assert "abuse" in complained[0].detail
    assert suppressions(served)["carl@far.example"]["reason"] == "complaint"
    # The report itself is kept, in the bounce mailbox.
    assert postmaster(served)[-1]["subject"] == "complaint about a message"
