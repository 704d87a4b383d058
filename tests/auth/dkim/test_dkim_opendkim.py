"""Interop: OpenDKIM's ``opendkim-testmsg`` (Debian opendkim-tools) verifies our signatures.

opendkim-testmsg has no option to supply a public key: in verify mode (no -d/-k/-s) libopendkim
looks the key up with the system resolver (res_nquery, /etc/resolv.conf). So the test
* serves the key records from a tiny DNS responder on a loopback address (127.53.x.y:53, UDP),
* runs opendkim-testmsg in a private mount namespace (``unshare --mount``) where a resolv.conf
  naming that address is bind-mounted over /etc/resolv.conf; the machine's resolver is untouched.
That needs root (CI runs as root); elsewhere the test skips, or fails under
POSTOFFICE_REQUIRE_PEERS=1. opendkim-testmsg exits 0 when the first signature verifies and prints
``dkim_eom(): Bad signature`` (exit 70) when it does not. libopendkim also insists on exactly one
Date and one From field (RFC 5322 3.6) before it looks at a signature, so every message has them.
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from postoffice.auth.dkim import SigningKey, generate_key, sign, sign_many
from postoffice.auth.dkim.keys import PrivateKey, public_key_record, record_name, txt_strings
from postoffice.testing.peers import require_peer, require_root

pytestmark = pytest.mark.peer

T = 1_700_000_000

MESSAGES = {
    "plain": (
        b"From: Joe SixPack <joe@example.org>\r\nTo: Suzie Q <suzie@example.net>\r\n"
        b"Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
        b"Message-ID: <20030712040037.46341.5F8J@example.org>\r\n\r\n"
        b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
    ),
    "folded and spaced": (
        b"From: \"A long display name\"\r\n\t<joe@example.org>\r\nTo: a@example.net,\r\n b@example.net\r\n"
        b"Subject:   lots   of\t\tspace  \r\n   and a fold\t \r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
        b"\r\nline with trailing space  \r\n\ttabbed\t line\t\r\n \r\n\r\n\r\n"
    ),
    "empty body": b"From: joe@example.org\r\nTo: x@example.net\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\n",
    "8-bit and long lines": (
        b"From: joe@example.org\r\nTo: x@example.net\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
        b"Subject: " + "Grüße".encode() + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "日本語 ½ €\r\n".encode() + b"x" * 3000 + b"\r\n" + bytes(range(128, 256)) + b"\r\n"
    ),
}
CANONS = [("relaxed", "relaxed"), ("simple", "simple"), ("relaxed", "simple"), ("simple", "relaxed")]


def _answer(query: bytes, zone: dict[str, str]) -> bytes | None:
    """A DNS response to ``query``: TXT records from ``zone``, NXDOMAIN for other names."""
    if len(query) < 12:
        return None
    qid, flags = struct.unpack("!HH", query[:4])
    labels, offset = [], 12
    while offset < len(query) and query[offset]:
        length = query[offset]
        labels.append(query[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    question_end = offset + 5
    if question_end > len(query):
        return None
    qtype = struct.unpack("!H", query[offset + 1 : offset + 3])[0]
    question = query[12:question_end]
    name = ".".join(labels).lower()
    rflags = 0x8400 | (flags & 0x0100)  # response, authoritative, RD copied
    if name not in zone:
        return struct.pack("!HHHHHH", qid, rflags | 3, 1, 0, 0, 0) + question
    if qtype != 16:
        return struct.pack("!HHHHHH", qid, rflags, 1, 0, 0, 0) + question
    rdata = b"".join(bytes([len(s)]) + s.encode("ascii") for s in txt_strings(zone[name]))
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, len(rdata)) + rdata
    return struct.pack("!HHHHHH", qid, rflags, 1, 1, 0, 0) + question + answer


@dataclass
class FakeDns:
    """A UDP DNS responder on a loopback address, with a resolv.conf that points at it."""

    resolv_conf: Path
    sock: socket.socket
    zone: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = _answer(query, self.zone)
            if reply is not None:
                self.queries.append(query[12:60].decode("ascii", "replace"))
                self.sock.sendto(reply, peer)


@pytest.fixture(scope="module")
def fake_dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDns]:
    require_root("opendkim-testmsg only reads keys from DNS: the test bind-mounts its own resolv.conf")
    require_peer("unshare", package="util-linux")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(50):
        address = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
        try:
            sock.bind((address, 53))
            break
        except OSError:
            continue
    else:
        sock.close()
        pytest.fail("no free loopback address for the test DNS responder")
    sock.settimeout(0.2)
    resolv_conf = tmp_path_factory.mktemp("dns") / "resolv.conf"
    resolv_conf.write_text(f"nameserver {address}\noptions edns0 timeout:2 attempts:2\n")
    dns = FakeDns(resolv_conf, sock)
    thread = threading.Thread(target=dns.serve, name="fake-dns", daemon=True)
    thread.start()
    yield dns
    dns.stopping.set()
    thread.join(5)
    sock.close()


@pytest.fixture(scope="module")
def testmsg() -> str:
    return require_peer("opendkim-testmsg", package="opendkim-tools")


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    return {"rsa-sha256": generate_key("rsa-sha256"), "ed25519-sha256": generate_key("ed25519-sha256")}


def opendkim_verify(testmsg: str, dns: FakeDns, message: bytes) -> subprocess.CompletedProcess[bytes]:
    script = 'mount --bind "$1" /etc/resolv.conf && exec "$2"'
    return subprocess.run(
        ["unshare", "--mount", "--", "sh", "-c", script, "sh", str(dns.resolv_conf), testmsg],
        input=message, capture_output=True, timeout=60, check=False,
    )


def publish(dns: FakeDns, selector: str, key: PrivateKey, domain: str = "example.org") -> None:
    dns.zone[record_name(selector, domain)] = public_key_record(key)


@pytest.mark.parametrize("name", list(MESSAGES))
@pytest.mark.parametrize("canon", CANONS, ids="/".join)
@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_opendkim_verifies(testmsg: str, fake_dns: FakeDns, keys: dict[str, PrivateKey], algorithm: str,
                           canon: tuple[str, str], name: str) -> None:
    key = keys[algorithm]
    selector = "po2026m11" + algorithm[0]
    publish(fake_dns, selector, key)
    message = MESSAGES[name]
    header = sign(message, domain="example.org", selector=selector, private_key=key, timestamp=T,
                  canonicalization=canon)  # type: ignore[arg-type]
    result = opendkim_verify(testmsg, fake_dns, header + message)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""


def test_opendkim_rejects_tampering(testmsg: str, fake_dns: FakeDns, keys: dict[str, PrivateKey]) -> None:
    message = MESSAGES["plain"]
    for algorithm, key in keys.items():
        selector = "po2026m11" + algorithm[0]
        publish(fake_dns, selector, key)
        signed = sign(message, domain="example.org", selector=selector, private_key=key, timestamp=T) + message
        assert opendkim_verify(testmsg, fake_dns, signed).returncode == 0
        for tampered in (signed.replace(b"hungry", b"Hungry"), signed.replace(b"Subject: Is", b"Subject: Was")):
            result = opendkim_verify(testmsg, fake_dns, tampered)
            assert result.returncode != 0 and b"Bad signature" in result.stderr
    assert any("_domainkey" in q for q in fake_dns.queries)  # the keys really came from our DNS


def test_opendkim_wrong_key_fails(testmsg: str, fake_dns: FakeDns, keys: dict[str, PrivateKey]) -> None:
    message = MESSAGES["plain"]
    fake_dns.zone[record_name("rotated", "example.org")] = public_key_record(generate_key("ed25519-sha256"))
    signed = sign(message, domain="example.org", selector="rotated", private_key=keys["ed25519-sha256"],
                  timestamp=T) + message
    assert opendkim_verify(testmsg, fake_dns, signed).returncode != 0


def test_opendkim_verifies_both_signatures(testmsg: str, fake_dns: FakeDns, keys: dict[str, PrivateKey]) -> None:
    """RSA and Ed25519 side by side; opendkim-testmsg reports on the first, so try both orders."""
    message = MESSAGES["folded and spaced"]
    rsa_signer = SigningKey("example.org", "po2026m11r", keys["rsa-sha256"])
    ed_signer = SigningKey("example.org", "po2026m11e", keys["ed25519-sha256"])
    publish(fake_dns, "po2026m11r", keys["rsa-sha256"])
    publish(fake_dns, "po2026m11e", keys["ed25519-sha256"])
    for order in ([rsa_signer, ed_signer], [ed_signer, rsa_signer]):
        result = opendkim_verify(testmsg, fake_dns, sign_many(message, order, timestamp=T) + message)
        assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("last_line", [b"Joe.", b"Joe.  ", b"Joe. \t"])
def test_unterminated_last_line_verifies_as_delivered(testmsg: str, fake_dns: FakeDns, keys: dict[str, PrivateKey],
                                                     last_line: bytes) -> None:
    """A body without final CRLF is signed as it will arrive (SMTP ends the data with CRLF);
    OpenDKIM, fed the delivered form, agrees for both body canonicalisations."""
    key = keys["ed25519-sha256"]
    publish(fake_dns, "po2026m11e", key)
    message = MESSAGES["plain"].rstrip(b"\r\n")[: -len(b"Joe.")] + last_line
    for canon in (("relaxed", "relaxed"), ("simple", "simple")):
        header = sign(message, domain="example.org", selector="po2026m11e", private_key=key, timestamp=T,
                      canonicalization=canon)  # type: ignore[arg-type]
        result = opendkim_verify(testmsg, fake_dns, header + message + b"\r\n")
        assert result.returncode == 0, (canon, result.stderr.decode())
