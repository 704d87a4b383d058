"""VERP end to end: the return path a peer sees, and a bounce to it coming back to our MX."""

import json
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from postoffice.policy.verp import VerpToken, decode
from postoffice.proto.smtp.reply import Reply
from postoffice.testing.scripted_smtp import Received, Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "pw-verp-1"
MESSAGE = b"From: %s\r\nTo: x@remote.example\r\nSubject: %s\r\n\r\nhello\r\n"


def queue(server: ServerProcess) -> dict[str, dict[str, object]]:
    """Queue items by recipient."""
    items = json.loads(postoffice("queue", "ls", "--json", data=server.data).stdout)
    return {str(i["recipient"]): i for i in items}


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def received(peer: ScriptedSmtp) -> list[Received]:
    return [m for s in peer.sessions for m in s.messages]


def serve(data: Path, peer: ScriptedSmtp, **delivery: object) -> ServerProcess:
    host, port = peer.address
    server = ServerProcess(data, config={"delivery": {"smarthost": f"{host}:{port}", **delivery}})
    server.init()
    server.add_user("bob@example.test", PASSWORD, "--allow-sender", "@brand.example")
    return server


def test_return_path_for_local_senders_only(tmp_path: Path) -> None:
    script = Script(rcpt={"nobody@remote.example": Reply(550, "5.1.1", "No such user")})
    with ScriptedSmtp(script) as peer:
        server = serve(tmp_path / "data", peer)
        key_file = server.data / "keys" / "verp.key"
        key_file.unlink()  # a data directory from before VERP: the key is made on first use
        server.start()
        try:
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@remote.example", "y@remote.example"],
                                MESSAGE % (b"bob@example.test", b"local sender"))
                client.sendmail("news@brand.example", ["z@remote.example", "nobody@remote.example"],
                                MESSAGE % (b"news@brand.example", b"other domain"))
            # The failure for nobody@ goes back to news@brand.example as a DSN, through the peer.
            assert wait_for(lambda: len(received(peer)) == 3), received(peer)
            items = queue(server)
        finally:
            server.stop()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    by_subject = {m.content.split(b"Subject: ")[1].split(b"\r\n")[0]: m for m in received(peer)}

    local = by_subject[b"local sender"]
    assert local.recipients == ("x@remote.example", "y@remote.example")
    assert local.mail_from.startswith("bounce+") and local.mail_from.endswith("@example.test")
    # One transaction for both recipients: the token names the message and its first item.
    first = items["x@remote.example"]
    assert decode(local.mail_from, key) == VerpToken(item=int(str(first["id"])),
                                                     message_id=str(first["message_id"]))
    assert items["x@remote.example"]["sender"] == "bob@example.test"  # stored as it came

    assert by_subject[b"other domain"].mail_from == "news@brand.example"
    dsn = by_subject[b"Undelivered Mail Returned to Sender"]
    assert dsn.mail_from == "" and dsn.recipients == ("news@brand.example",)
    assert b"Final-Recipient: rfc822; nobody@remote.example" in dsn.content


def test_verp_off_sends_the_stored_sender(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        with serve(tmp_path / "data", peer, verp=False) as server:
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@remote.example"],
                                MESSAGE % (b"bob@example.test", b"plain"))
            assert wait_for(lambda: received(peer))
    assert received(peer)[0].mail_from == "bob@example.test"


def test_a_bounce_to_the_return_path_is_filed_with_its_queue_item(tmp_path: Path) -> None:
    with ScriptedSmtp(Script()) as peer:
        with serve(tmp_path / "data", peer) as server:
            server.start()
            with server.submission("bob@example.test", PASSWORD) as client:
                client.sendmail("bob@example.test", ["x@remote.example"],
                                MESSAGE % (b"bob@example.test", b"will bounce later"))
            assert wait_for(lambda: received(peer))
            return_path = received(peer)[0].mail_from
            item = queue(server)["x@remote.example"]
            # The remote side accepted it, then bounces it asynchronously, to the return path.
            with server.mx() as mx:
                mx.ehlo("mx.remote.example")
                refused = mx.sendmail("", [return_path], b"From: MAILER-DAEMON@remote.example\r\n"
                                      b"Subject: Delivery failure\r\n\r\nx@remote.example: gone\r\n")
                assert refused == {}
            entries = json.loads(postoffice("mailbox", "ls", "postmaster@example.test", "--json",
                                            data=server.data).stdout)
            assert [e["subject"] for e in entries] == ["Delivery failure"]
            raw = subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show",
                                  "postmaster@example.test", str(entries[0]["uid"]),
                                  "--data", str(server.data)], capture_output=True, check=True).stdout
    header = f"X-Postoffice-Bounce: message={item['message_id']}; item={item['id']}\r\n"
    assert raw.startswith(header.encode())
