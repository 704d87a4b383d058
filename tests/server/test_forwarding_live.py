"""Aliases at the MX of a real `postoffice serve`: local targets get the message, remote ones
get a copy with an SRS sender and an ARC set through the smarthost, and a bounce to that SRS
address goes back to the original sender."""

import json
import time
from collections.abc import Callable
from pathlib import Path

from postoffice.auth import arc
from postoffice.auth.dns import run_sync
from postoffice.testing.scripted_smtp import Received, Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

MESSAGE = (b"From: Alice <alice@sender.example>\r\nTo: team <alias@example.test>\r\n"
           b"Subject: for the team\r\nMessage-ID: <1@sender.example>\r\n\r\nhello team\r\n")
BOUNCE = b"From: MAILER-DAEMON@remote.example\r\nSubject: Undelivered Mail\r\n\r\nno such user\r\n"


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def received(peer: ScriptedSmtp) -> list[Received]:
    return [m for s in peer.sessions for m in s.messages]


def dkim_zone(data: Path) -> dict[str, list[dict[str, object]]]:
    records = json.loads(postoffice("domain", "dns", "example.test", "--json", data=data).stdout)
    return {r["name"]: [{"TXT": r["value"]}] for r in records if "._domainkey." in r["name"]}


def test_alias_forwards_with_srs_and_arc(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path / "data", config={"delivery": {"smarthost": f"{host}:{port}"}})
        with server:
            server.init()
            server.add_user("bob@example.test", "pw-forward-1")
            postoffice("alias", "add", "alias@example.test", "bob@example.test", "someone@remote.example",
                       data=server.data)
            server.start()
            with server.mx() as client:
                client.ehlo("mx.sender.example")
                client.sendmail("alice@sender.example", ["alias@example.test"], MESSAGE)
                # An alias does not open the MX to relaying.
                client.mail("alice@sender.example")
                assert client.rcpt("someone@remote.example")[0] == 554
                client.rset()
            assert wait_for(lambda: len(received(peer)) == 1), server.log_text()[-3000:]
            forwarded = received(peer)[0]

            inbox = json.loads(postoffice("mailbox", "ls", "bob@example.test", "--json",
                                          data=server.data).stdout)
            assert [e["subject"] for e in inbox] == ["for the team"]

            assert forwarded.recipients == ("someone@remote.example",)
            assert forwarded.mail_from.startswith("SRS0=")
            assert forwarded.mail_from.endswith("=sender.example=alice@example.test")
            assert forwarded.content.endswith(MESSAGE)
            now = int(time.time())
            chain = run_sync(arc.validate(forwarded.content, now=now), dkim_zone(server.data))
            assert (chain.status, chain.sealers) == (arc.ArcStatus.PASS, ("example.test",)), chain
            assert b"ARC-Authentication-Results: i=1; mail.example.test; none" in forwarded.content
            assert b"cv=none" in forwarded.content

            # A bounce to the SRS address reaches the original sender, through the smarthost.
            with server.mx() as client:
                client.ehlo("mx.remote.example")
                client.mail("")
                assert client.rcpt(forwarded.mail_from)[0] == 250
                forged = forwarded.mail_from.replace("alice@", "mallory@")
                assert client.rcpt(forged)[0] == 550
                assert client.data(BOUNCE)[0] == 250
            assert wait_for(lambda: len(received(peer)) == 2), server.log_text()[-3000:]
            bounce = received(peer)[1]
            assert (bounce.mail_from, bounce.recipients) == ("", ("alice@sender.example",))
            assert bounce.content.endswith(BOUNCE)
