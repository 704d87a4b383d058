"""Real IMAP clients against postoffice's IMAP server: IMAPClient (the PyPI package) and mbsync
(Debian isync), over plain IMAP on loopback (the test server allows plaintext login there)."""

from __future__ import annotations

import imaplib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

from postoffice.testing.imap_server import ImapServerThread
from postoffice.testing.peers import require_peer

USER = "alice@example.org"
PASSWORD = "alice-password"
USERS = {USER: PASSWORD}


def _message(subject: str, sender: str = "bob@example.net", body: str = "Hello there.") -> bytes:
    return (
        f"From: Bob <{sender}>\r\n"
        f"To: Alice <{USER}>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImapServerThread]:
    with ImapServerThread(tmp_path / "data", USERS) as running:
        yield running


def _client(server: ImapServerThread) -> IMAPClient:
    client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
    client.login(USER, PASSWORD)
    return client


@pytest.fixture
def client(server: ImapServerThread) -> Iterator[IMAPClient]:
    c = _client(server)
    try:
        yield c
    finally:
        try:
            c.logout()
        except Exception:  # noqa: BLE001 - best effort on teardown
            pass


# ---------------------------------------------------------------------------------- IMAPClient


def _flags(client: IMAPClient, uid: int) -> set[bytes]:
    """The message's flags, without the session flag \\Recent (which IMAP4rev1 may add)."""
    return set(client.get_flags([uid])[uid]) - {b"\\Recent"}


def test_login_and_special_use_folders(client: IMAPClient) -> None:
    folders = {name: flags for flags, _delim, name in client.list_folders()}
    assert "INBOX" in folders
    specials = {flag: name for name, flags in folders.items() for flag in flags
                if flag in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive")}
    assert set(specials) == {b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive"}
    assert client.find_special_folder(b"\\Sent") == specials[b"\\Sent"]
    assert client.find_special_folder(b"\\Trash") == specials[b"\\Trash"]


def test_append_select_search_fetch(client: IMAPClient) -> None:
    raw1 = _message("first", sender="bob@example.net")
    raw2 = _message("second", sender="carol@example.com", body="Another one.")
    when = datetime(2024, 6, 3, 12, 30, 0, tzinfo=UTC)
    client.normalise_times = False  # keep INTERNALDATE's zone, to compare with the append date
    client.append("INBOX", raw1, flags=[b"\\Flagged"], msg_time=when)
    client.append("INBOX", raw2, flags=[b"\\Seen"], msg_time=when + timedelta(days=2))

    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 2
    uids = client.search("ALL")
    assert len(uids) == 2
    uid1, uid2 = sorted(uids)

    assert client.search("UNSEEN") == [uid1]
    assert client.search(["FROM", "carol@example.com"]) == [uid2]
    assert client.search(["SINCE", date(2024, 6, 4)]) == [uid2]
    assert sorted(client.search(["SINCE", date(2024, 6, 1)])) == [uid1, uid2]

    data = client.fetch([uid1, uid2], ["FLAGS", "INTERNALDATE", "ENVELOPE", "BODYSTRUCTURE",
                                       "BODY.PEEK[]", "RFC822.SIZE"])
    assert data[uid1][b"BODY[]"] == raw1
    assert data[uid2][b"BODY[]"] == raw2
    assert data[uid1][b"RFC822.SIZE"] == len(raw1)
    assert b"\\Flagged" in data[uid1][b"FLAGS"]
    assert b"\\Seen" in data[uid2][b"FLAGS"]
    assert data[uid1][b"INTERNALDATE"] == when

    env = data[uid2][b"ENVELOPE"]
    assert env.subject == b"second"
    assert env.message_id == b"<second@example.net>"
    assert env.from_[0].mailbox == b"carol" and env.from_[0].host == b"example.com"
    assert env.to[0].mailbox == b"alice" and env.to[0].host == b"example.org"

    body = data[uid1][b"BODYSTRUCTURE"]
    assert body[0].lower() == b"text" and body[1].lower() == b"plain"
    assert not body.is_multipart

    # BODY.PEEK did not set \Seen; a plain BODY[] fetch does.
    assert client.search("UNSEEN") == [uid1]
    again = client.fetch([uid1], ["BODY[]"])
    assert again[uid1][b"BODY[]"] == raw1
    assert client.search("UNSEEN") == []


def test_flags_copy_move_expunge(client: IMAPClient) -> None:
    for i in range(3):
        client.append("INBOX", _message(f"msg {i}"))
    client.select_folder("INBOX")
    uids = sorted(client.search("ALL"))
    a, b, c = uids

    client.set_flags([a], [b"\\Answered", b"custom"])
    assert _flags(client, a) == {b"\\Answered", b"custom"}
    client.add_flags([a], [b"\\Flagged"])
    assert _flags(client, a) == {b"\\Answered", b"custom", b"\\Flagged"}
    client.remove_flags([a], [b"custom"])
    assert _flags(client, a) == {b"\\Answered", b"\\Flagged"}

    client.copy([a], "Archive")
    assert client.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 1
    assert client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"] == 3

    client.move([b], "Archive")
    assert sorted(client.search("ALL")) == [a, c]
    assert client.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 2

    client.add_flags([a, c], [b"\\Deleted"])
    client.uid_expunge([c])  # UIDPLUS: only c goes, a stays \Deleted
    assert client.search("ALL") == [a]
    assert b"\\Deleted" in client.get_flags([a])[a]

    client.select_folder("Archive", readonly=True)
    archived = client.fetch(client.search("ALL"), ["ENVELOPE", "FLAGS"])
    subjects = sorted(v[b"ENVELOPE"].subject for v in archived.values())
    assert subjects == [b"msg 0", b"msg 1"]
    copied = next(v for v in archived.values() if v[b"ENVELOPE"].subject == b"msg 0")
    assert b"\\Answered" in copied[b"FLAGS"] and b"\\Flagged" in copied[b"FLAGS"]


def test_condstore(client: IMAPClient) -> None:
    for i in range(2):
        client.append("INBOX", _message(f"cs {i}"))
    client.enable("CONDSTORE")
    info = client.select_folder("INBOX", readonly=False)
    assert b"HIGHESTMODSEQ" in info
    highest = info[b"HIGHESTMODSEQ"]
    uid1, uid2 = sorted(client.search("ALL"))

    mods = client.fetch([uid1, uid2], ["MODSEQ"])
    assert all(mods[u][b"MODSEQ"][0] <= highest for u in (uid1, uid2))

    assert client.fetch([uid1, uid2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {highest}"]) == {}
    client.add_flags([uid2], [b"\\Seen"])
    changed = client.fetch([uid1, uid2], ["FLAGS"], modifiers=[f"CHANGEDSINCE {highest}"])
    assert list(changed) == [uid2]
    assert changed[uid2][b"MODSEQ"][0] > highest
    assert client.search(["MODSEQ", str(highest + 1)]) == [uid2]

    status = client.folder_status("INBOX", ["HIGHESTMODSEQ"])
    assert status[b"HIGHESTMODSEQ"] == changed[uid2][b"MODSEQ"][0]


def test_idle_sees_append_from_other_client(server: ImapServerThread, client: IMAPClient) -> None:
    client.select_folder("INBOX")
    other = _client(server)
    try:
        client.idle()
        try:
            start = time.monotonic()
            other.append("INBOX", _message("while idling"))
            responses: list[tuple[int, bytes]] = []
            while time.monotonic() - start < 2 and not any(r[1:2] == (b"EXISTS",)
                                                             for r in responses):
                responses += client.idle_check(timeout=2)
            elapsed = time.monotonic() - start
        finally:
            client.idle_done()
    finally:
        other.logout()
    assert (1, b"EXISTS") in responses, responses
    assert elapsed < 1.0, f"EXISTS arrived after {elapsed:.2f}s"


# -------------------------------------------------------------------------------------- mbsync


def _mbsync_rc(tmp_path: Path, server: ImapServerThread, maildir: Path) -> Path:
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"""IMAPAccount po
Host {server.host}
Port {server.port}
User {USER}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN

IMAPStore po-remote
Account po

MaildirStore po-local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel po
Far :po-remote:
Near :po-local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
Sync All
"""
    )
    return rc


def _mbsync(rc: Path) -> str:
    mbsync = require_peer("mbsync", package="isync")
    proc = subprocess.run([mbsync, "-V", "-c", str(rc), "-a"], capture_output=True, text=True,
                          timeout=60)
    output = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, output
    return output


def _normal(raw: bytes) -> bytes:
    """A message as mbsync may store it, made comparable: LF line ends, and without the
    X-TUID header mbsync adds to the messages it propagates."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith(b"X-TUID:"))


def _local_with_subject(folder: Path, subject: str) -> list[Path]:
    marker = f"\nSubject: {subject}\n".encode()
    return [f for f in _maildir_files(folder) if marker in _normal(f.read_bytes())]


def _maildir_files(folder: Path) -> list[Path]:
    return sorted(p for sub in ("cur", "new") for p in (folder / sub).glob("*") if p.is_file())


def _server_subjects(server: ImapServerThread) -> dict[int, tuple[bytes, bytes]]:
    """uid -> (subject header line, FLAGS) for the INBOX, via imaplib."""
    conn = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        conn.login(USER, PASSWORD)
        conn.select("INBOX", readonly=True)
        typ, data = conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", data
        out: dict[int, tuple[bytes, bytes]] = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0]
            uid = int(head.split(b"UID ")[1].split()[0].rstrip(b")"))
            flags = head.split(b"FLAGS (")[1].split(b")")[0]
            out[uid] = (item[1].strip(), flags)
        return out
    finally:
        conn.logout()


def test_mbsync_both_ways(tmp_path: Path, server: ImapServerThread) -> None:
    require_peer("mbsync", package="isync")
    maildir = tmp_path / "Mail"
    inbox = maildir / "INBOX"
    for sub in ("cur", "new", "tmp"):
        (inbox / sub).mkdir(parents=True)
    local = {f"local {i}": _message(f"local {i}") for i in range(3)}
    for i, raw in enumerate(local.values()):
        (inbox / "cur" / f"{1700000000 + i}.{i}_{i}.host:2,").write_bytes(raw)
    rc = _mbsync_rc(tmp_path, server, maildir)

    # 1. Maildir -> server.
    out = _mbsync(rc)
    on_server = _server_subjects(server)
    assert sorted(s for s, _f in on_server.values()) == sorted(
        f"Subject: {k}".encode() for k in local), out

    # 2. server -> Maildir.
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as c:
        c.login(USER, PASSWORD)
        c.append("INBOX", _message("from server"))
    out = _mbsync(rc)
    files = _maildir_files(inbox)
    assert len(files) == 4, out
    assert _normal(_message("from server")) in [_normal(f.read_bytes()) for f in files], out

    # 3. \Seen set on the server -> 'S' in the Maildir file name.
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=10) as c:
        c.login(USER, PASSWORD)
        c.select_folder("INBOX")
        target = c.search(["SUBJECT", "local 1"])
        assert len(target) == 1
        c.add_flags(target, [b"\\Seen"])
    out = _mbsync(rc)
    flagged = _local_with_subject(inbox, "local 1")
    assert len(flagged) == 1, out
    assert "S" in flagged[0].name.rpartition(":2,")[2], (flagged[0].name, out)

    # 4. Deleted locally -> expunged on the server.
    [victim] = _local_with_subject(inbox, "local 0")
    victim.unlink()
    out = _mbsync(rc)
    remaining = sorted(s for s, _f in _server_subjects(server).values())
    assert remaining == [b"Subject: from server", b"Subject: local 1", b"Subject: local 2"], out
