"""Greylisting on a real `postoffice serve`: a first attempt gets 451 4.7.1, a retry after the
delay is accepted; a real Postfix, greylisted, retries by itself and its message arrives.
Knot DNS serves the sender's SPF record (the MX checks mail from loopback here too)."""

import json
import smtplib
import time
from collections.abc import Iterator

import pytest

from postoffice.testing import peers
from postoffice.testing.dns import KNOTD, AuthoritativeDns
from postoffice.testing.postfix import POSTFIX, PostfixInstance
from postoffice.testing.server import ServerProcess, postoffice

DELAY = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    peers.require_peer("knotd", KNOTD, package="knot")
    zones = {"sender.example": {"@": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}]}}
    with AuthoritativeDns(zones) as dns:
        server = ServerProcess(tmp_path_factory.mktemp("greylist") / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "inbound": {"skip_networks": [], "greylist_domains": ["example.test"],
                        "greylist_delay": DELAY},
        })
        with server:
            server.add_user("bob@example.test", "pw-greylist-1")
            server.start()
            yield server


def message(sender: str, subject: str) -> bytes:
    return (f"From: {sender}\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@x>"
            "\r\n\r\nhello\r\n").encode()


def inbox(server: ServerProcess) -> list[str]:
    entries = json.loads(postoffice("mailbox", "ls", "bob@example.test", "--json",
                                    data=server.data).stdout)
    return [str(e["subject"]) for e in entries]


def test_first_attempt_is_greylisted_and_the_retry_accepted(server: ServerProcess) -> None:
    with server.mx() as client:
        client.ehlo("mx.sender.example")
        client.mail("news@sender.example")
        code, text = client.rcpt("bob@example.test")
        assert (code, text) == (451, b"4.7.1 Greylisted, try again later")
        # postmaster@ is not greylisted; an unknown user is still unknown
        assert client.rcpt("postmaster@example.test")[0] == 250
        assert client.rcpt("nobody@example.test")[0] == 550
        client.rset()
    time.sleep(DELAY + 0.5)
    with server.mx() as client:
        client.ehlo("mx.sender.example")
        refused = client.sendmail("news@sender.example", ["bob@example.test"],
                                  message("news@sender.example", "after retry"))
        assert refused == {}
    assert "after retry" in inbox(server)


def test_submission_is_not_greylisted(server: ServerProcess) -> None:
    with server.submission("bob@example.test", "pw-greylist-1") as client:
        client.sendmail("bob@example.test", ["bob@example.test"],
                        message("bob@example.test", "submitted"))
    assert "submitted" in inbox(server)


def test_postfix_retries_and_delivers(server: ServerProcess) -> None:
    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    retry = {"minimal_backoff_time": "2s", "maximal_backoff_time": "4s", "queue_run_delay": "1s"}
    with PostfixInstance(relay_to=server.address("smtp"), main_cf=retry) as postfix:
        with smtplib.SMTP(*postfix.address, timeout=10) as client:
            client.sendmail("list@sender.example", ["bob@example.test"],
                            message("list@sender.example", "via postfix"))
        assert postfix.wait_for_queue_empty(60), postfix.log_tail()
        log = postfix.log_text()
    assert "451 4.7.1 Greylisted" in log  # the first attempt was deferred ...
    assert "status=sent" in log  # ... and a later one delivered
    assert "via postfix" in inbox(server)
    assert "greylisted client=127.0.0.1 from=<list@sender.example>" in server.log_text()
