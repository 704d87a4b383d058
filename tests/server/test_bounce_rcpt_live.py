"""Bounces to VERP return paths at the MX of a real `postoffice serve`."""

import json
import subprocess
import sys

from postoffice.policy.verp import VerpToken, encode
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
