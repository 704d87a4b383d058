"""The IMAP listener over a real socket: TLS and login rules, limits, IDLE across sessions and
processes, expunge reporting rules, COMPRESS=DEFLATE."""

from __future__ import annotations

import imaplib
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.proto.imap.server import ImapConfig
from postoffice.storage import open_store
from postoffice.storage.mailboxes import NewMessage
from postoffice.testing.certs import Authority
from postoffice.testing.imap_server import ImapServerThread

ALICE, PASSWORD = "alice@example.org", "secret-pw"
MESSAGE = (b"From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: hi\r\n"
           b"Date: Thu, 15 Feb 2007 01:02:03 +0200\r\n\r\nhello\r\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImapServerThread]:
    with ImapServerThread(tmp_path / "data", {ALICE: PASSWORD}) as running:
        yield running


def _client(server: ImapServerThread) -> imaplib.IMAP4:
    client = imaplib.IMAP4(server.host, server.port, timeout=10)
    client.login(ALICE, PASSWORD)
    return client


def _deliver(data_dir: Path, count: int = 1) -> None:
    """What the MX does: another store (as another process would) adds to the INBOX."""
    store = open_store(data_dir)
    try:
        messages = []
        for _ in range(count):
            writer = store.blobs.writer()
            writer.write(MESSAGE)
            messages.append(NewMessage(writer.finish(), (), time.time()))
        store.append_messages(ALICE, "INBOX", messages)
    finally:
        store.close()


def _deliver_each(data_dir: Path, contents: list[bytes]) -> None:
    store = open_store(data_dir)
    try:
        messages = []
        for content in contents:
            writer = store.blobs.writer()
            writer.write(content)
            messages.append(NewMessage(writer.finish(), (), time.time()))
        store.append_messages(ALICE, "INBOX", messages)
    finally:
        store.close()


OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_raw_sockets() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


class Raw:
    """A line-level client for what imaplib cannot say."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        OPEN.append(self.sock)
        self.buffer = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines


def test_logindisabled_until_starttls(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    config = ImapConfig(tls_available=True)
    with ImapServerThread(tmp_path / "data", {ALICE: PASSWORD}, plaintext_auth="never",
                          tls_context=authority.server("localhost"), config=config) as server:
        client = imaplib.IMAP4("localhost", server.port, timeout=10)
        assert "LOGINDISABLED" in client.capabilities and "STARTTLS" in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            client.login(ALICE, PASSWORD)
        client.starttls(authority.trust())
        assert "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities
        assert client.login(ALICE, PASSWORD)[0] == "OK"
        client.logout()


def test_implicit_tls(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    config = ImapConfig(tls_available=True, implicit_tls=True)
    with ImapServerThread(tmp_path / "data", {ALICE: PASSWORD}, implicit_tls=True,
                          tls_context=authority.server("localhost"), config=config) as server:
        client = imaplib.IMAP4_SSL("localhost", server.port, ssl_context=authority.trust())
        assert client.login(ALICE, PASSWORD)[0] == "OK"
        assert "STARTTLS" not in client.capabilities
        client.logout()


def test_wrong_password_is_refused_and_too_many_close_the_connection(
        server: ImapServerThread) -> None:
    raw = Raw(server.port)
    for i in range(3):
        raw.send(b"a%d LOGIN %s wrong\r\n" % (i, ALICE.encode()))
        assert b"NO [AUTHENTICATIONFAILED]" in raw.until(b"a%d" % i)[-1]
    assert raw.line().startswith(b"* BYE")


def test_a_big_literal_before_login_is_refused(server: ImapServerThread) -> None:
    raw = Raw(server.port)
    raw.send(b"a LOGIN {100000}\r\n")
    assert raw.until(b"a")[-1].startswith(b"a NO [TOOBIG]")
    raw.send(b"b NOOP\r\n")
    assert raw.until(b"b")[-1].startswith(b"b OK")


def test_idle_sees_another_processes_delivery_within_a_second(
        server: ImapServerThread) -> None:
    raw = Raw(server.port)
    raw.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (ALICE.encode(), PASSWORD.encode()))
    raw.until(b"b")
    raw.send(b"c IDLE\r\n")
    assert raw.line().startswith(b"+ ")
    started = time.monotonic()
    _deliver(server.data_dir)
    assert raw.line() == b"* 1 EXISTS"
    assert time.monotonic() - started < 1.0
    raw.send(b"DONE\r\n")
    assert raw.until(b"c")[-1].startswith(b"c OK")


def test_idle_sees_another_sessions_flags_and_expunge(server: ImapServerThread) -> None:
    _deliver(server.data_dir, 2)
    raw = Raw(server.port)
    raw.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\nc IDLE\r\n" % (ALICE.encode(),
                                                                  PASSWORD.encode()))
    raw.until(b"b")
    assert raw.line().startswith(b"+ ")
    other = _client(server)
    other.select("INBOX")
    other.store("1", "+FLAGS", "(\\Flagged)")
    assert raw.line() == b"* 1 FETCH (FLAGS (\\Flagged \\Recent))"
    other.store("2", "+FLAGS", "(\\Deleted)")
    other.expunge()
    lines = {raw.line(), raw.line()}
    assert lines == {b"* 2 FETCH (FLAGS (\\Deleted \\Recent))", b"* 2 EXPUNGE"}
    raw.send(b"DONE\r\n")
    assert raw.until(b"c")[-1].startswith(b"c OK")
    other.logout()


def test_expunge_is_held_back_during_fetch_and_sent_on_noop(server: ImapServerThread) -> None:
    _deliver(server.data_dir, 3)
    first = _client(server)
    first.select("INBOX")
    second = _client(server)
    second.select("INBOX")
    second.store("1", "+FLAGS", "(\\Deleted)")
    second.expunge()
    status, data = first.fetch("3", "(FLAGS)")
    assert status == "OK" and data[0].startswith(b"3 ")
    assert "EXPUNGE" not in first.untagged_responses
    first.noop()
    assert first.untagged_responses.get("EXPUNGE") == [b"1"]
    assert first.fetch("2", "(UID)")[1] == [b"2 (UID 3)"]
    first.logout()
    second.logout()


def test_compress_deflate(server: ImapServerThread) -> None:
    _deliver(server.data_dir)
    raw = Raw(server.port)
    raw.send(b"a LOGIN %s %s\r\nb COMPRESS DEFLATE\r\n" % (ALICE.encode(), PASSWORD.encode()))
    assert raw.until(b"b")[-1] == b"b OK DEFLATE active"
    deflate = zlib.compressobj(wbits=-15)
    inflate = zlib.decompressobj(wbits=-15)
    raw.send(deflate.compress(b"c SELECT INBOX\r\nd FETCH 1 BODY.PEEK[]\r\n")
             + deflate.flush(zlib.Z_SYNC_FLUSH))
    received = inflate.decompress(raw.buffer)
    while not received.rstrip().endswith(b"d OK FETCH completed"):
        received += inflate.decompress(raw.sock.recv(65536))
    assert MESSAGE in received


def test_autologout_after_the_idle_timeout(tmp_path: Path) -> None:
    with ImapServerThread(tmp_path / "data", {ALICE: PASSWORD}, login_timeout=0.3) as server:
        raw = Raw(server.port)
        started = time.monotonic()
        assert raw.line().startswith(b"* BYE Autologout")
        assert 0.2 < time.monotonic() - started < 5


def test_a_second_login_skips_the_password_hash(server: ImapServerThread,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from postoffice.credentials import LOGINS, verify_password
    calls: list[str] = []

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return verify_password(password, stored)
    monkeypatch.setattr(LOGINS, "_verify", counting)
    LOGINS.clear()
    for _ in range(3):
        _client(server).logout()
    assert calls == [PASSWORD]
    client = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            client.login(ALICE, "wrong")
    finally:
        client.shutdown()
    assert calls == [PASSWORD, "wrong"]
    LOGINS.clear()


def test_answers_from_memory_still_report_other_processes_changes_at_once(
        server: ImapServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """FETCH FLAGS, SEARCH and NOOP skip the store thread while the database is unchanged,
    and take it again (reporting the news) right after anyone else commits anything."""
    from postoffice.access.imap import ImapService
    _deliver(server.data_dir, 3)
    answered: list[str] = []
    original = ImapService.answer_from_memory

    def counting(self: ImapService, command: object, enabled: frozenset[str]) -> object:
        outcome = original(self, command, enabled)  # type: ignore[arg-type]
        if outcome is not None:
            answered.append(command.name)  # type: ignore[attr-defined]
        return outcome
    monkeypatch.setattr(ImapService, "answer_from_memory", counting)
    raw = Raw(server.port)
    raw.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (ALICE.encode(), PASSWORD.encode()))
    raw.until(b"b")
    raw.send(b"c FETCH 1:* FLAGS\r\n")
    first = raw.until(b"c")
    raw.send(b"d FETCH 1:* FLAGS\r\ne SEARCH UNSEEN\r\nf NOOP\r\n")
    assert raw.until(b"d") == first[:-1] + [b"d OK FETCH completed"]
    assert raw.until(b"e")[0] == b"* SEARCH 1 2 3"
    assert raw.until(b"f") == [b"f OK NOOP completed"]
    assert answered == ["FETCH", "SEARCH", "NOOP"]
    store = open_store(server.data_dir)  # another process changes a flag and delivers
    try:
        inbox = store.get_folder(ALICE, "INBOX")
        assert inbox is not None
        store.store_flags(inbox.id, [2], "add", ["\\Seen"])
    finally:
        store.close()
    raw.send(b"g SEARCH UNSEEN\r\n")  # answered as before the news, which follows
    assert raw.until(b"g") == [b"* SEARCH 1 2 3", b"* 2 FETCH (FLAGS (\\Seen \\Recent))",
                               b"g OK SEARCH completed"]
    _deliver(server.data_dir)
    raw.send(b"h NOOP\r\n")
    assert b"* 4 EXISTS" in raw.until(b"h")
    raw.send(b"i SEARCH UNSEEN\r\nj FETCH 4 FLAGS\r\n")
    assert raw.until(b"i") == [b"* SEARCH 1 3 4", b"i OK SEARCH completed"]
    assert raw.until(b"j")[0] == b"* 4 FETCH (FLAGS (\\Recent))"
    # i took the store thread: h's NOOP claimed \\Recent for the new message (a commit)
    assert answered == ["FETCH", "SEARCH", "NOOP", "FETCH"]


def test_message_content_is_read_on_the_event_loop_once_the_rows_are_known(
        server: ImapServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client opening messages one by one: the first FETCH of content reads the rows
    around it on a store thread; the next ones come from memory and the page cache, with the
    same answers, until a FETCH would set \\Seen or someone commits."""
    from postoffice.access.imap import ImapService
    _deliver_each(server.data_dir, [b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n)
                                    for n in range(1, 6)])
    answered: list[str] = []
    original = ImapService.answer_from_memory

    def counting(self: ImapService, command: object, enabled: frozenset[str]) -> object:
        outcome = original(self, command, enabled)  # type: ignore[arg-type]
        if outcome is not None:
            answered.append(command.tag)  # type: ignore[attr-defined]
        return outcome
    monkeypatch.setattr(ImapService, "answer_from_memory", counting)
    raw = Raw(server.port)
    raw.send(b"a LOGIN %s %s\r\nb SELECT INBOX\r\n" % (ALICE.encode(), PASSWORD.encode()))
    raw.until(b"b")
    raw.send(b"c FETCH 1 BODY.PEEK[]\r\n")
    assert raw.until(b"c")[:2] == [b"* 1 FETCH (BODY[] {23}", b"Subject: m1"]
    raw.send(b"c2 FETCH 4:5 ENVELOPE\r\nc3 NOOP\r\n")  # the summaries (made and stored)
    raw.until(b"c3")
    raw.send(b"d FETCH 4 (UID RFC822.SIZE BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
             b"\r\ne UID FETCH 3 BINARY.PEEK[1]\r\n")
    assert raw.until(b"d") == [b"* 4 FETCH (UID 4 RFC822.SIZE 23 BODY[TEXT] {8}", b"body 4",
                               b" BODY[HEADER.FIELDS (SUBJECT)] {15}", b"Subject: m4", b"",
                               b")", b"d OK FETCH completed"]
    assert raw.until(b"e")[:2] == [b"* 3 FETCH (UID 3 BINARY[1] {8}", b"body 3"]
    assert answered == ["d", "e"]
    raw.send(b"f FETCH 2 BODY[]\r\n")  # sets \\Seen: a write, on a store thread
    assert b"\\Seen" in b" ".join(raw.until(b"f"))
    _deliver(server.data_dir)  # someone commits: the next answer reports the news too
    raw.send(b"g FETCH 5 BODY.PEEK[TEXT]\r\n")
    assert raw.until(b"g") == [b"* 5 FETCH (BODY[TEXT] {8}", b"body 5", b")", b"* 6 EXISTS",
                               b"* 6 RECENT", b"g OK FETCH completed"]
    raw.send(b"g2 NOOP\r\n")  # g claimed \\Recent for the new message (a commit)
    raw.until(b"g2")
    raw.send(b"h FETCH 3 BODY.PEEK[TEXT]\r\n")
    assert raw.until(b"h")[:2] == [b"* 3 FETCH (BODY[TEXT] {8}", b"body 3"]
    assert answered == ["d", "e", "h"]
