"""Sieve at delivery on a real `postoffice serve`: the MX runs each recipient's active script
(fileinto :create with flags, discard, reject as the SMTP reply or as a DSN, redirect with
Delivered-To and an SRS sender, vacation once per sender), a broken script files into INBOX
and its error is recorded, and a full mailbox is refused with 452 4.2.2."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator

import pytest

from postoffice.storage import open_store
from postoffice.testing.scripted_smtp import Received, Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess

BOB = "bob@example.test"
CAROL = "carol@example.test"
ALICE = "alice@sender.example"
SCRIPT = """require ["fileinto", "imap4flags", "reject", "vacation", "copy", "mailbox"];
if header :contains "subject" "report" {
    addflag "\\\\Flagged";
    fileinto :create "Reports/Daily";
} elsif header :contains "subject" "forward me" {
    redirect :copy "someone@remote.example";
} elsif header :contains "subject" "go away" {
    reject "Not interested, thanks";
} elsif header :contains "subject" "nothing" {
    discard;
} elsif header :contains "subject" "hello" {
    vacation :days 3 :subject "Away" :addresses ["bob@example.test"] "Back on Monday.";
}
"""


def message(subject: str, to: str = BOB, extra: str = "") -> bytes:
    return (f"From: Alice <{ALICE}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{time.time_ns()}@sender.example>\r\n"
            f"{extra}\r\nbody of {subject}\r\n").encode()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class World:
    def __init__(self, server: ServerProcess, peer: ScriptedSmtp) -> None:
        self.server = server
        self.peer = peer

    def send(self, content: bytes, to: tuple[str, ...] = (BOB,)) -> None:
        with self.server.mx() as client:
            client.sendmail(ALICE, list(to), content)

    def folder(self, address: str, name: str = "INBOX") -> list[tuple[str, tuple[str, ...]]]:
        """(subject, flags) of each message in a folder."""
        store = open_store(self.server.data)
        try:
            entries = store.list_mailbox(address, name)
            return [(_subject(store.blobs.read(e.blob)), e.flags) for e in entries]
        finally:
            store.close()

    def relayed(self) -> list[Received]:
        return [m for s in self.peer.sessions for m in s.messages]


def _subject(content: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(b"subject:"):
            return line[8:].strip().decode()
    return ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        data = tmp_path_factory.mktemp("sieve") / "data"
        server = ServerProcess(data, config={"delivery": {"smarthost": f"{host}:{port}"}})
        with server:
            server.add_user(BOB, "pw-sieve-bob")
            server.add_user(CAROL, "pw-sieve-carol")
            store = open_store(data)
            store.put_sieve_script(BOB, "main", SCRIPT)
            store.activate_sieve_script(BOB, "main")
            store.close()
            server.start()
            yield World(server, peer)


def test_fileinto_creates_the_folder_and_sets_flags(world: World) -> None:
    world.send(message("daily report"))
    assert world.folder(BOB, "Reports/Daily") == [("daily report", ("\\Flagged",))]
    assert "daily report" not in [s for s, _ in world.folder(BOB)]


def test_discard_delivers_nowhere(world: World) -> None:
    world.send(message("nothing to see"))
    world.send(message("plain mail"))
    inbox = [s for s, _ in world.folder(BOB)]
    assert "plain mail" in inbox and "nothing to see" not in inbox


def test_reject_is_the_smtp_reply_when_it_is_the_only_recipient(world: World) -> None:
    with world.server.mx() as client:
        client.ehlo("mx.sender.example")
        client.mail(ALICE)
        assert client.rcpt(BOB)[0] == 250
        code, text = client.data(message("go away"))
    assert (code, text.decode()) == (550, "5.7.1 Not interested, thanks")
    assert "go away" not in [s for s, _ in world.folder(BOB)]


def test_reject_with_other_recipients_sends_a_dsn(world: World) -> None:
    before = len(world.relayed())
    world.send(message("go away too", to=CAROL), to=(BOB, CAROL))
    assert [s for s, _ in world.folder(CAROL)] == ["go away too"]
    assert wait_for(lambda: len(world.relayed()) > before), world.server.log_text()[-3000:]
    dsn = world.relayed()[-1]
    assert (dsn.mail_from, dsn.recipients) == ("", (ALICE,))
    assert b"Final-Recipient: rfc822; bob@example.test" in dsn.content
    assert b"Not interested, thanks" in dsn.content


def test_redirect_copy_goes_out_with_delivered_to(world: World) -> None:
    before = len(world.relayed())
    world.send(message("please forward me"))
    assert wait_for(lambda: len(world.relayed()) > before), world.server.log_text()[-3000:]
    copy = world.relayed()[-1]
    assert copy.recipients == ("someone@remote.example",)
    assert copy.mail_from.endswith("=sender.example=alice@example.test")  # SRS
    assert b"Delivered-To: bob@example.test\r\n" in copy.content
    assert "please forward me" in [s for s, _ in world.folder(BOB)]  # :copy keeps it


def test_a_redirect_loop_is_kept_instead(world: World) -> None:
    before = len(world.relayed())
    world.send(message("forward me again", extra=f"Delivered-To: {BOB}\r\n"))
    assert "forward me again" in [s for s, _ in world.folder(BOB)]
    time.sleep(1.0)
    assert len(world.relayed()) == before
    assert "redirect loop" in world.server.log_text()


def test_vacation_answers_once_per_sender(world: World) -> None:
    before = len(world.relayed())
    world.send(message("hello there"))
    assert wait_for(lambda: len(world.relayed()) > before), world.server.log_text()[-3000:]
    reply = world.relayed()[-1]
    assert (reply.mail_from, reply.recipients) == ("", (ALICE,))
    assert b"Subject: Away\r\n" in reply.content
    assert b"Auto-Submitted: auto-replied" in reply.content
    assert b"In-Reply-To: <hello.there." in reply.content
    assert b"Back on Monday." in reply.content
    world.send(message("hello again"))
    time.sleep(1.0)
    assert len(world.relayed()) == before + 1
    assert [s for s, _ in world.folder(BOB)].count("hello again") == 1


def test_a_broken_script_files_into_inbox_and_records_the_error(world: World) -> None:
    store = open_store(world.server.data)
    try:
        store.put_sieve_script(CAROL, "broken", 'require "fileinto";\nfileinto "x"\n')
        store.activate_sieve_script(CAROL, "broken")
    finally:
        store.close()
    time.sleep(5.5)  # the MX caches scripts for 5 s
    world.send(message("to carol", to=CAROL), to=(CAROL,))
    assert "to carol" in [s for s, _ in world.folder(CAROL)]
    store = open_store(world.server.data)
    try:
        script = store.get_sieve_script(CAROL, "broken")
    finally:
        store.close()
    assert script is not None and script.last_error and "line" in script.last_error


def test_a_full_mailbox_is_refused_with_452(world: World) -> None:
    store = open_store(world.server.data)
    try:
        store.add_user("dave@example.test", "x")
    finally:
        store.close()
    world.send(message("fits", to="dave@example.test"), to=("dave@example.test",))
    store = open_store(world.server.data)
    try:
        store.set_quota("dave@example.test", 10)
    finally:
        store.close()
    time.sleep(5.5)  # the MX caches quotas for 5 s
    with world.server.mx() as client:
        client.ehlo("mx.sender.example")
        client.mail(ALICE)
        code, text = client.rcpt("dave@example.test")
    assert (code, text[:5]) == (452, b"4.2.2")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        world.send(message("too much"), to=("dave@example.test",))
    assert [s for s, _ in world.folder("dave@example.test")] == ["fits"]
