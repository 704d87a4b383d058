"""Mail submitted over SMTP is sent as a tenant's (the one owning the envelope sender's
domain): its suppression list leaves recipients out with a `suppressed` event, its sending
limits refuse with 451 4.7.1, and its log and stats are the tenant's."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

import pytest

from postoffice.storage import open_store
from postoffice.storage.events import LogQuery
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "correct horse battery staple"
MESSAGE = b"From: bob@acme.example\r\nTo: you@far.example\r\nSubject: %s\r\n\r\nHello.\r\n"


def _acme(data: Path, peer: ScriptedSmtp) -> ServerProcess:
    """A data directory whose server relays to `peer`, with tenant acme owning acme.example
    (the server not started)."""
    host, port = peer.address
    server = ServerProcess(data, config={"delivery": {"smarthost": f"{host}:{port}"}})
    server.init()
    postoffice("tenant", "add", "acme", data=data)
    postoffice("domain", "add", "acme.example", "--tenant", "acme", data=data)
    return server


def test_submission_goes_as_the_senders_tenant(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        data = tmp_path / "data"
        server = _acme(data, peer)
        with server:
            postoffice("tenant", "limits", "acme", "--hourly", "2", data=data)
            postoffice("suppress", "add", "gone@far.example", "--reason", "hard_bounce",
                       "--tenant", "acme", data=data)
            server.add_user("bob@acme.example", PASSWORD)
            server.start()
            with server.submission("bob@acme.example", PASSWORD) as client:
                refused = client.sendmail("bob@acme.example",
                                          ["gone@far.example", "ok@far.example"],
                                          MESSAGE % b"first")
                assert refused == {}  # accepted: the suppressed one is left out, not refused
                client.sendmail("bob@acme.example", ["two@far.example"], MESSAGE % b"second")
                with pytest.raises(smtplib.SMTPDataError) as limit:  # 2 an hour: a third...
                    client.sendmail("bob@acme.example", ["three@far.example"],
                                    MESSAGE % b"third")
                assert limit.value.smtp_code == 451
                assert limit.value.smtp_error.startswith(b"4.7.1 Sending limit: the hourly")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(peer.messages) < 2:
                time.sleep(0.1)
    assert sorted(r for m in peer.messages for r in m.recipients) == [
        "ok@far.example", "two@far.example"]
    with open_store(data) as store:
        (first,) = [m for m in store.search_messages("acme", LogQuery()) if m.subject == "first"]
        assert first.recipients == (("ok@far.example", "delivered"),)
        events = store.message_events("acme", first.id)
        suppressed = [e for e in events if e.type == "suppressed"]
        assert [(e.recipient, e.reason) for e in suppressed] == [
            ("gone@far.example", "hard_bounce")]
        assert store.search_messages("default", LogQuery()) == []  # not the default tenant's
        now = time.time()
        counts = store.stats("acme", since=now - 3600, until=now + 60, group_by="day")[0].counts
        assert (counts["queued"], counts["suppressed"]) == (2, 1)



def test_a_submission_names_its_category_in_a_header_field(tmp_path: Path) -> None:
    """X-Postoffice-Category: the message's category in the log, the events and the stats;
    an unsubscribe from that category leaves its recipient out (not from another one); a
    malformed value is refused."""
    categorized = (b"From: bob@acme.example\r\nTo: you@far.example\r\nSubject: %s\r\n"
                   b"X-Postoffice-Category: %s\r\n\r\nHello.\r\n")
    with ScriptedSmtp(Script()) as peer:
        data = tmp_path / "data"
        server = _acme(data, peer)
        with server:
            postoffice("suppress", "add", "left@far.example", "--reason", "unsubscribe",
                       "--category", "digest", "--tenant", "acme", data=data)
            server.add_user("bob@acme.example", PASSWORD)
            server.start()
            with server.submission("bob@acme.example", PASSWORD) as client:
                client.sendmail("bob@acme.example", ["left@far.example", "stay@far.example"],
                                categorized % (b"weekly", b"digest"))
                client.sendmail("bob@acme.example", ["left@far.example"],
                                categorized % (b"receipt", b"receipts"))
                with pytest.raises(smtplib.SMTPDataError) as bad:
                    client.sendmail("bob@acme.example", ["stay@far.example"],
                                    categorized % (b"bad", b"no spaces allowed"))
                assert bad.value.smtp_code == 554
                assert bad.value.smtp_error.startswith(b"5.6.0 X-Postoffice-Category")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(peer.messages) < 2:
                time.sleep(0.1)
    assert sorted((r, m.content.split(b"Subject: ")[1][:6]) for m in peer.messages
                  for r in m.recipients) == [("left@far.example", b"receip"),
                                             ("stay@far.example", b"weekly")]
    with open_store(data) as store:
        logged = {m.subject: m for m in store.search_messages("acme", LogQuery())}
        assert set(logged) == {"weekly", "receipt"}
        assert (logged["weekly"].category, logged["receipt"].category) == ("digest", "receipts")
        assert logged["weekly"].recipients == (("stay@far.example", "delivered"),)
        events = store.message_events("acme", logged["weekly"].id)
        assert {(e.type, e.recipient, e.category) for e in events if e.recipient} >= {
            ("suppressed", "left@far.example", "digest"),
            ("queued", "stay@far.example", "digest")}
        assert store.search_messages("acme", LogQuery(category="digest")) == [logged["weekly"]]
