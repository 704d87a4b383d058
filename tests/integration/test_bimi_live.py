"""BIMI in the MX: a DMARC-passing message from a domain at enforcement with a BIMI record gets
BIMI-Location once its logo (fetched over HTTPS from a test CA's server on :443, checked as SVG
Tiny PS) passes; the logo is fetched once. (A logo failing the checks: tests/pipeline.)"""

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from postoffice.clock import SYSTEM_CLOCK
from postoffice.mta.dkim import Keyring
from postoffice.testing import peers
from postoffice.testing.certs import Authority, PolicyServer, Reply
from postoffice.testing.dns import KNOTD, AuthoritativeDns
from postoffice.testing.server import ServerProcess, postoffice

LOGO_IP = "127.0.0.61"
LOGO = (b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
        b'viewBox="0 0 100 100"><title>Brand</title><circle cx="50" cy="50" r="40"/></svg>')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Keyring, PolicyServer]]:
    peers.require_peer("knotd", KNOTD, package="knot")
    peers.require_root("the logo server listens on port 443")
    base = tmp_path_factory.mktemp("bimi")
    keys = Keyring(base / "keys")
    keys.create("brand.example", dt.date(2026, 11, 1))
    zone: dict[str, list[dict[str, object]]] = {
        "@": [{"TXT": "v=spf1 -all"}],
        "_dmarc": [{"TXT": "v=DMARC1; p=reject"}],
        "default._bimi": [{"TXT": "v=BIMI1; l=https://logo.brand.example/logo.svg"}],
        "logo": [{"A": LOGO_IP}],
    }
    for record in keys.records("brand.example"):
        zone[record.name.removesuffix(".brand.example")] = [{"TXT": record.value}]
    ca = Authority(base)
    https = PolicyServer(ca.server("logo.brand.example"), host=LOGO_IP, port=443)
    https.reply = Reply(body=LOGO, content_type="image/svg+xml")
    try:
        with AuthoritativeDns({"brand.example": zone}) as dns:
            server = ServerProcess(base / "data", config={
                "dns": {"nameservers": [dns.nameserver]},
                "inbound": {"skip_networks": []},
            }, env={"SSL_CERT_FILE": str(ca.ca_file)})
            with server:
                server.add_user("bob@example.test", "pw-bimi-1")
                server.start()
                yield server, keys, https
    finally:
        https.stop()


def deliver(server: ServerProcess, keys: Keyring, subject: str) -> bytes:
    content = (f"From: Brand <news@brand.example>\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
               f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@brand.example>\r\n"
               "BIMI-Location: v=BIMI1; l=https://forged.example/logo.svg\r\n\r\nhello\r\n").encode()
    with server.mx() as client:
        client.sendmail("bounces@elsewhere.example", ["bob@example.test"],
                        keys.signer(SYSTEM_CLOCK)(content, "") + content)
    inbox = json.loads(postoffice("mailbox", "ls", "bob@example.test", "--json", data=server.data).stdout)
    (entry,) = [e for e in inbox if e["subject"] == subject]
    raw = subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", "bob@example.test",
                          str(entry["uid"]), "--data", str(server.data)], capture_output=True, check=True).stdout
    return raw.split(b"\r\n\r\n")[0]


def test_passing_mail_gets_bimi_location(world: tuple[ServerProcess, Keyring, PolicyServer]) -> None:
    server, keys, https = world
    head = deliver(server, keys, "with logo")
    assert b"dmarc=pass" in head and b"bimi=pass" in head
    assert b"BIMI-Location: v=BIMI1; l=https://logo.brand.example/logo.svg" in head
    assert b"forged.example" not in head  # a sender's own BIMI-Location is removed
    assert https.requests and https.requests[-1][1] == "/logo.svg"


def test_the_logo_is_fetched_once_and_cached(world: tuple[ServerProcess, Keyring, PolicyServer]) -> None:
    server, keys, https = world
    deliver(server, keys, "first")
    head = deliver(server, keys, "second")
    assert b"bimi=pass" in head
    assert len([r for r in https.requests if r[1] == "/logo.svg"]) == 1
