"""The POP3 listeners end to end: real sockets, Python's poplib, fetchmail, a real store."""

from __future__ import annotations

import asyncio
import os
import poplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.credentials import hash_password
from postoffice.server.limits import AuthThrottle, ConnectionLimiter
from postoffice.server.pop3 import Pop3Listener, Pop3Session, start_pop3_server
from postoffice.server.pop3_maildrop import Maildrops, lock_dir
from postoffice.server.store_threads import StoreThreads
from postoffice.storage import Store, open_store
from postoffice.storage.mailboxes import NewMessage
from postoffice.storage.sqlite.changes import ChangeCounter
from postoffice.testing.certs import Authority
from postoffice.testing.peers import require_peer

ALICE = "alice@example.test"
PASSWORD = "correct horse battery staple"
HOST = "pop.example.test"


def message(n: int, body: bytes = b"") -> bytes:
    return (b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: message %d\r\n"
            b"\r\nline 1 of %d\r\n%s" % (n, n, body))


DOTTED = message(2, b".starts with a dot\r\n..two dots\r\n.\r\nlast\r\n")


class Pop3Server:
    """pop3 (STLS) and pop3s listeners on 127.0.0.1, their event loop on a thread."""

    def __init__(self, data: Path, authority: Authority, **options: object) -> None:
        self.data = data
        self.threads = StoreThreads(lambda: open_store(data), threads=2)
        self.sessions: set[Pop3Session] = set()
        self.throttle = AuthThrottle(0.3, 1.0, 60.0)
        self.changes = ChangeCounter(data)
        """Read on the loop thread: RETR skips the expunge check while nothing changed."""
        tls = authority.server(HOST, "localhost")
        settings: dict[str, object] = {
            "maildrops": Maildrops(self.threads, lock_dir(data), self.changes.current),
            "throttle": self.throttle,
            "limiter": ConnectionLimiter(20, 10), "tls_context": tls, "hostname": HOST,
            **options}
        self.listeners = [Pop3Listener("pop3", **settings),  # type: ignore[arg-type]
                          Pop3Listener("pop3s", **settings, implicit_tls=True)]  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = [self._call(start_pop3_server(listener, "127.0.0.1", 0,
                                                     sessions=self.sessions))
                        for listener in self.listeners]
        self.port, self.tls_port = (s.sockets[0].getsockname()[1] for s in self.servers)

    def _call(self, coroutine: object) -> asyncio.Server:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)  # type: ignore[arg-type]

    def stop(self) -> None:
        async def stop() -> None:
            for server in self.servers:
                server.close()
            for session in list(self.sessions):
                session.abort()
            for _ in range(100):
                if not self.sessions:
                    break
                await asyncio.sleep(0.01)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.threads.close()

    def sessions_gone(self, timeout: float = 5.0) -> None:
        """Wait until the server has seen every connection end."""
        deadline = time.monotonic() + timeout
        while self.sessions and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.sessions


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    (tmp_path / "ca").mkdir()
    return Authority(tmp_path / "ca")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path / "data")
    store.add_domain("example.test")
    store.add_user(ALICE, hash_password(PASSWORD, n=2**10))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path, store: Store, authority: Authority) -> Iterator[Pop3Server]:
    server = Pop3Server(tmp_path / "data", authority)
    try:
        yield server
    finally:
        server.stop()


def append(store: Store, *contents: bytes) -> list[int]:
    messages = []
    for content in contents:
        writer = store.blobs.writer()
        writer.write(content)
        messages.append(NewMessage(writer.finish(), (), time.time()))
    return store.append_messages(ALICE, "INBOX", messages)[1]


def inbox(store: Store) -> dict[int, tuple[str, ...]]:
    """uid -> flags of ALICE's INBOX."""
    folder = store.get_folder(ALICE, "INBOX")
    assert folder is not None
    return {row.uid: row.flags for row in store.folder_messages(folder.id)}


def uidvalidity(store: Store) -> int:
    folder = store.get_folder(ALICE, "INBOX")
    assert folder is not None
    return folder.uidvalidity


def login(server: Pop3Server, authority: Authority, password: str = PASSWORD) -> poplib.POP3:
    pop = poplib.POP3("127.0.0.1", server.port, timeout=10)
    try:
        pop.stls(context=client_tls(authority))
        pop.user(ALICE)
        pop.pass_(password)
    except BaseException:
        pop.close()
        raise
    return pop


def client_tls(authority: Authority) -> ssl.SSLContext:
    context = authority.trust()
    context.check_hostname = False  # the certificate names HOST; we connect to 127.0.0.1
    return context


def test_transaction_commands_and_update_at_quit(server: Pop3Server, store: Store,
                                                 authority: Authority) -> None:
    one, three = message(1), message(3, b"body\r\n" * 5)
    uids = append(store, one, DOTTED, three)
    pop = login(server, authority)
    try:
        assert pop.stat() == (3, len(one) + len(DOTTED) + len(three))
        assert pop.list()[1] == [b"%d %d" % (n, len(m)) for n, m in
                                 enumerate((one, DOTTED, three), 1)]
        assert pop.uidl()[1] == [b"%d %d.%d" % (n, uidvalidity(store), uid)
                                 for n, uid in enumerate(uids, 1)]
        assert pop.top(3, 2)[1] == three.split(b"\r\n")[:6]
        _, lines, _ = pop.retr(2)
        assert b"\r\n".join(lines) + b"\r\n" == DOTTED  # poplib takes the stuffing off
        pop.dele(1)
        pop.dele(2)
        assert pop.stat() == (1, len(three))
        with pytest.raises(poplib.error_proto, match="No such message"):
            pop.retr(1)
        pop.rset()
        assert pop.stat()[0] == 3
        pop.dele(2)
        assert pop.uidl()[1] == [b"%d %d.%d" % (n, uidvalidity(store), uids[n - 1])
                                 for n in (1, 3)]
        assert set(inbox(store)) == set(uids)  # nothing changes before QUIT
        assert pop.quit().startswith(b"+OK")
    finally:
        pop.close()
    # RETR marks \Seen, TOP is a peek; deletions are expunged at QUIT.
    assert inbox(store) == {uids[0]: (), uids[2]: ()}


def test_retr_sets_seen_on_kept_messages(server: Pop3Server, store: Store,
                                         authority: Authority) -> None:
    uids = append(store, message(1), message(2))
    pop = login(server, authority)
    try:
        pop.retr(1)
        pop.top(2, 0)
        pop.quit()
    finally:
        pop.close()
    assert inbox(store) == {uids[0]: ("\\Seen",), uids[1]: ()}


def test_retr_is_byte_exact_on_the_wire(server: Pop3Server, store: Store,
                                        authority: Authority) -> None:
    append(store, DOTTED)
    pop = login(server, authority)
    try:
        pop._putcmd("RETR 1")  # poplib would undo the dot-stuffing: read the raw response
        raw = b""
        while not raw.endswith(b"\r\n.\r\n"):
            raw += pop.file.readline()
        pop.quit()
    finally:
        pop.close()
    stuffed = b"".join(b"." + line if line.startswith(b".") else line
                       for line in DOTTED.splitlines(keepends=True))
    assert raw == b"+OK %d octets\r\n" % len(DOTTED) + stuffed + b".\r\n"


def test_no_login_before_stls(server: Pop3Server, authority: Authority) -> None:
    pop = poplib.POP3("127.0.0.1", server.port, timeout=10)
    try:
        assert pop.getwelcome() == b"+OK " + HOST.encode() + b" POP3 server ready"
        capabilities = pop.capa()
        assert "STLS" in capabilities and "USER" not in capabilities
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            pop.user(ALICE)
        pop.stls(context=client_tls(authority))
        capabilities = pop.capa()
        assert "USER" in capabilities and "SASL" in capabilities and "STLS" not in capabilities
        pop.user(ALICE)
        assert pop.pass_(PASSWORD).startswith(b"+OK maildrop has 0 messages")
        pop.quit()
    finally:
        pop.close()


def test_pop3s_and_auth_plain(server: Pop3Server, store: Store, authority: Authority) -> None:
    append(store, message(1))
    pop = poplib.POP3_SSL("127.0.0.1", server.tls_port, context=client_tls(authority),
                          timeout=10)
    try:
        assert "STLS" not in pop.capa()
        import base64
        token = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        assert pop._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
        assert pop.stat() == (1, len(message(1)))
        pop.quit()
    finally:
        pop.close()


def test_plaintext_login_when_allowed(tmp_path: Path, store: Store, authority: Authority) -> None:
    server = Pop3Server(tmp_path / "data", authority, plaintext_auth="always")
    try:
        pop = poplib.POP3("127.0.0.1", server.port, timeout=10)
        try:
            pop.user(ALICE)
            pop.pass_(PASSWORD)
            pop.quit()
        finally:
            pop.close()
    finally:
        server.stop()


def test_dropped_connection_deletes_nothing_and_unlocks(server: Pop3Server, store: Store,
                                                        authority: Authority) -> None:
    uids = append(store, message(1), message(2))
    pop = login(server, authority)
    pop.retr(1)
    pop.dele(1)
    pop.dele(2)
    pop.sock.shutdown(socket.SHUT_RDWR)
    pop.close()
    server.sessions_gone()
    assert inbox(store) == {uid: () for uid in uids}
    pop = login(server, authority)  # the lock went with the connection
    try:
        assert pop.stat()[0] == 2
        pop.quit()
    finally:
        pop.close()


def test_second_session_is_refused_while_the_first_holds_the_lock(
        server: Pop3Server, store: Store, authority: Authority) -> None:
    first = login(server, authority)
    try:
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[IN-USE\]"):
            login(server, authority).close()
        first.quit()
    finally:
        first.close()
    second = login(server, authority)  # released at QUIT
    try:
        second.quit()
    finally:
        second.close()


def test_the_lock_holds_across_processes(server: Pop3Server, store: Store,
                                         authority: Authority) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path;"
         " from postoffice.server.pop3_maildrop import MaildropLock;"
         " lock = MaildropLock.acquire(Path(sys.argv[1]), sys.argv[2]);"
         " print('locked' if lock else 'busy', flush=True); sys.stdin.read()",
         str(lock_dir(server.data)), ALICE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            login(server, authority).close()
    finally:
        holder.kill()  # a process that dies gives its locks back
        holder.wait()
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.stdout.close()
    pop = login(server, authority)
    try:
        pop.quit()
    finally:
        pop.close()


def test_wrong_password_is_refused_ever_more_slowly(server: Pop3Server,
                                                    authority: Authority) -> None:
    timings = []
    pop = poplib.POP3("127.0.0.1", server.port, timeout=10)
    try:
        pop.stls(context=client_tls(authority))
        for _ in range(2):
            pop.user(ALICE)
            started = time.monotonic()
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
                pop.pass_("guess")
            timings.append(time.monotonic() - started)
        pop.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            pop.pass_("guess")
        assert pop.file.readline() == b""  # three failures: the server hung up
    finally:
        pop.close()
    assert timings[0] >= 0.3 and timings[1] >= 0.6
    assert server.throttle.delay("127.0.0.1", ALICE) == 1.0


def test_expunge_by_another_session_between_and_during(server: Pop3Server, store: Store,
                                                        authority: Authority) -> None:
    uids = append(store, message(1), message(2), message(3))
    folder = store.get_folder(ALICE, "INBOX")
    assert folder is not None

    def imap_expunge(uid: int) -> None:
        store.store_flags(folder.id, [uid], "add", ["\\Deleted"])
        assert store.expunge(folder.id, [uid]) == [uid]

    imap_expunge(uids[0])  # between sessions: gone, the other uids stay as they were
    pop = login(server, authority)
    try:
        assert pop.uidl()[1] == [b"%d %d.%d" % (n, uidvalidity(store), uid)
                                 for n, uid in ((1, uids[1]), (2, uids[2]))]
        imap_expunge(uids[1])  # during the session: POP3 keeps its numbering
        assert pop.stat()[0] == 2
        with pytest.raises(poplib.error_proto, match="expunged"):
            pop.retr(1)
        assert pop.retr(2)[1][2] == b"Subject: message 3"
        pop.dele(1)
        pop.dele(2)
        assert pop.quit().startswith(b"+OK")
    finally:
        pop.close()
    assert inbox(store) == {}


def test_idle_session_is_logged_out_without_update(tmp_path: Path, store: Store,
                                                   authority: Authority) -> None:
    uids = append(store, message(1))
    server = Pop3Server(tmp_path / "data", authority, idle_timeout=0.3)
    try:
        pop = login(server, authority)
        try:
            pop.dele(1)
            assert pop.file.readline() == b"-ERR Autologout: idle for too long\r\n"
        finally:
            pop.close()
        server.sessions_gone()
    finally:
        server.stop()
    assert set(inbox(store)) == set(uids)


def test_connection_limit(tmp_path: Path, store: Store, authority: Authority) -> None:
    server = Pop3Server(tmp_path / "data", authority, limiter=ConnectionLimiter(10, 1))
    try:
        first = poplib.POP3("127.0.0.1", server.port, timeout=10)
        try:
            with (socket.create_connection(("127.0.0.1", server.port), timeout=10) as second,
                  second.makefile("rb") as reader):
                refusal = reader.readline()
            assert refusal == b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
            first.quit()
        finally:
            first.close()
    finally:
        server.stop()


def test_drain_ends_sessions_outside_transaction(server: Pop3Server, store: Store,
                                                 authority: Authority) -> None:
    append(store, message(1))
    waiting = poplib.POP3("127.0.0.1", server.port, timeout=10)
    busy = login(server, authority)
    try:
        server.loop.call_soon_threadsafe(lambda: [s.drain() for s in server.sessions])
        assert waiting.file.readline().startswith(b"-ERR [SYS/TEMP] Server shutting down")
        busy.dele(1)  # a session in TRANSACTION goes on to its QUIT
        assert busy.quit().startswith(b"+OK")
    finally:
        waiting.close()
        busy.close()
    assert inbox(store) == {}


def fetchmail_rc(path: Path, port: int, authority: Authority, mbox: Path, *extra: str) -> Path:
    rc = path / "fetchmailrc"
    rc.write_text(
        f'poll 127.0.0.1 proto pop3 service {port} auth password\n'
        f'  user "{ALICE}" there with password "{PASSWORD}" is "{os.environ.get("USER", "root")}" here\n'
        f'  sslcertck sslcertfile "{authority.ca_file}" sslcommonname "{HOST}"\n'
        f'  {" ".join(extra)}\n'
        f'  mda "cat >> {mbox}"\n')
    rc.chmod(0o600)
    return rc


def run_fetchmail(binary: str, rc: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "FETCHMAILHOME": str(home)}
    return subprocess.run([binary, "--nodetach", "--nosyslog", "-v", "-f", str(rc)],
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.peer
def test_fetchmail_fetches_and_deletes(tmp_path: Path, server: Pop3Server, store: Store,
                                       authority: Authority) -> None:
    binary = require_peer("fetchmail", package="fetchmail")
    home = tmp_path / "fetchmail"
    home.mkdir(mode=0o700)
    mbox = tmp_path / "mbox"
    append(store, message(1), DOTTED)
    rc = fetchmail_rc(home, server.port, authority, mbox, "sslproto tls1.2+")
    result = run_fetchmail(binary, rc, home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "STLS" in result.stdout + result.stderr
    fetched = mbox.read_bytes().replace(b"\r\n", b"\n")
    assert b"Subject: message 1\n" in fetched
    assert b"\n.starts with a dot\n..two dots\n.\nlast\n" in fetched
    assert inbox(store) == {}

    append(store, message(3))  # and over implicit TLS
    rc = fetchmail_rc(home, server.tls_port, authority, mbox, "ssl")
    result = run_fetchmail(binary, rc, home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"Subject: message 3" in mbox.read_bytes()
    assert inbox(store) == {}


def test_a_second_login_skips_the_password_hash(server: Pop3Server, authority: Authority,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from postoffice.credentials import LOGINS, verify_password
    calls: list[str] = []

    def counting(password: str, stored: str) -> bool:
        calls.append(password)
        return verify_password(password, stored)
    monkeypatch.setattr(LOGINS, "_verify", counting)
    LOGINS.clear()
    for _ in range(3):
        login(server, authority).quit()
    assert calls == [PASSWORD]
    LOGINS.clear()
