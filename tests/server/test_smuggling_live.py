"""Every SMTP smuggling end-of-data sequence of the public suite, against the real listeners.

A receiver is safe when only CRLF.CRLF ends DATA: a sequence without it either gets the whole
transaction refused (bare CR/LF, `550 5.6.11`) or ends up, with the smuggled commands, inside
ONE message. A sequence that does contain CRLF.CRLF really ends the message; what follows is
then the client's own next transaction, answered as such.
"""

import base64
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.storage import open_store
from postoffice.testing.server import ServerProcess, insecure_tls_context

PASSWORD = "pw-smuggling-1"


def sequences(conformance: Path) -> list[dict[str, object]]:
    data = json.loads((conformance / "smtp-smuggling" / "eod-sequences.json").read_text())
    return list(data["sequences"])


@pytest.fixture(scope="module", params=["reject", "normalize"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = ServerProcess(tmp_path_factory.mktemp(f"smuggle-{request.param}") / "data",
                      config={"smtp": {"bare_newline": request.param}})
    with s:
        s.add_user("victim@example.test", PASSWORD)
        s.start()
        yield s


def build(inject: bytes, tag: str, crlf_around: bool, sender: str) -> bytes:
    head = (f"From: {sender}\r\nTo: victim@example.test\r\nSubject: CHECK {tag}\r\n\r\n"
            f"TESTING {tag} as fake end-of-data").encode()
    smuggled = (b"mail FROM:<smuggled@spoofed.example>\r\nrcpt TO:<victim@example.test>\r\ndata\r\n"
                b"From: smuggled@spoofed.example\r\nSubject: SMUGGLED " + tag.encode() +
                b"\r\n\r\nSMUGGLING WORKS\r\n")
    if crlf_around:
        return head + b"\r\n" + inject + b"\r\n" + smuggled + b".\r\n"
    return head + inject + smuggled + b".\r\n"


def replies(sock: socket.socket | ssl.SSLSocket) -> list[bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return [line for line in data.split(b"\r\n") if line[3:4] == b" "]


def session(server: ServerProcess, listener: str, message: bytes) -> list[bytes]:
    sock: socket.socket | ssl.SSLSocket = socket.create_connection(server.address(listener), timeout=10)
    f = sock.makefile("rb")

    def read() -> bytes:
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line

    read()
    sock.sendall(b"EHLO client.example\r\n")
    read()
    if listener == "submission":
        sock.sendall(b"STARTTLS\r\n")
        assert read().startswith(b"220")
        sock = insecure_tls_context().wrap_socket(sock, server_hostname="mail.example.test")
        f = sock.makefile("rb")
        sock.sendall(b"EHLO client.example\r\n")
        read()
        token = base64.b64encode(b"\0victim@example.test\0" + PASSWORD.encode())
        sock.sendall(b"AUTH PLAIN " + token + b"\r\n")
        assert read().startswith(b"235")
        sender = b"victim@example.test"
    else:
        sender = b"a@remote.example"
    sock.sendall(b"MAIL FROM:<" + sender + b">\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n")
    for _ in range(3):
        assert read()[:1] in (b"2", b"3")
    sock.sendall(message + b"QUIT\r\n")
    out = []
    while line := f.readline():
        if line[3:4] != b"-":
            out.append(line.rstrip(b"\r\n"))
    sock.close()
    return out


def stored_bodies(server: ServerProcess, tag: str) -> list[bytes]:
    store = open_store(server.data)
    try:
        bodies = [store.blobs.read(e.blob) for e in store.list_mailbox("victim@example.test")]
    finally:
        store.close()
    return [b for b in bodies if f"CHECK {tag}".encode() in b or f"SMUGGLED {tag}".encode() in b]


@pytest.mark.parametrize("listener", ["smtp", "submission"])
@pytest.mark.parametrize("crlf_around", [True, False], ids=["with-crlf", "bare"])
def test_every_sequence(server: ServerProcess, conformance_dir: Path, listener: str, crlf_around: bool) -> None:
    mode = "normalize" if "normalize" in str(server.data) else "reject"
    for n, seq in enumerate(sequences(conformance_dir)):
        inject = bytes.fromhex(str(seq["bytes_hex"]))
        tag = f"{listener}-{crlf_around}-{n}"
        sender = "victim@example.test" if listener == "submission" else "a@remote.example"
        out = session(server, listener, build(inject, tag, crlf_around, sender))
        finals = [r for r in out if r[:1] in (b"2", b"4", b"5") and not r.startswith(b"221")]
        stored = stored_bodies(server, tag)
        where = f"sequence {seq['repr']} ({mode}, {listener}, crlf_around={crlf_around}): {out}"
        around = b"\r\n" + inject + b"\r\n" if crlf_around else b"a" + inject + b"m"
        really_ends = b"\r\n.\r\n" in around
        has_bare = b"\n" in around.replace(b"\r\n", b"") or b"\r" in around.replace(b"\r\n", b"")
        if really_ends:
            # The message ends where the client said; the rest is its own next transaction.
            assert any(s.count(b"SMUGGLED") == 0 for s in stored), where
            continue
        data_replies = [r for r in finals if r.startswith((b"250 2.0.0 Ok", b"550 5.6.11", b"552"))]
        assert len(data_replies) == 1, where
        assert not [r for r in finals if r.startswith(b"250 2.1.0")][1:], "smuggled MAIL ran: " + where
        if mode == "reject" and has_bare:
            assert data_replies[0].startswith(b"550 5.6.11"), where
            assert stored == [], where
        else:
            assert data_replies[0].startswith(b"250 2.0.0"), where
            assert len(stored) == 1 and b"SMUGGLING WORKS" in stored[0], where
            if mode == "normalize":
                content = stored[0]
                assert b"\n" not in content.replace(b"\r\n", b""), "bare LF stored: " + where
                assert b"\r" not in content.replace(b"\r\n", b""), "bare CR stored: " + where
