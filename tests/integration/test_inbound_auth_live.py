"""The MX checks incoming mail end to end: Knot DNS serving the senders' SPF, DKIM and DMARC
records; messages signed by postoffice's signer sent to our MX directly and through a real
Postfix; the stored message carries our Authentication-Results; DMARC decides reject or Junk."""

import datetime as dt
import json
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postoffice.clock import SYSTEM_CLOCK
from postoffice.mta.dkim import Keyring
from postoffice.testing import peers
from postoffice.testing.dns import KNOTD, AuthoritativeDns
from postoffice.testing.postfix import POSTFIX, PostfixInstance
from postoffice.testing.scripted_smtp import Script, ScriptedSmtp
from postoffice.testing.server import ServerProcess, postoffice

PASSWORD = "pw-inbound-1"
PEERS: dict[Path, ScriptedSmtp] = {}


def message(sender: str, subject: str, extra: str = "") -> bytes:
    return (f"{extra}From: News <{sender}>\r\nTo: bob@example.test\r\nSubject: {subject}\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@x>\r\n\r\nhello\r\n").encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Keyring]]:
    peers.require_peer("knotd", KNOTD, package="knot")
    keys = Keyring(tmp_path_factory.mktemp("sender-keys"))
    zones = {}
    for domain, policy in (("brand.example", "reject"), ("shop.example", "quarantine")):
        keys.create(domain, dt.date(2026, 11, 1))
        zone: dict[str, list[dict[str, object]]] = {
            "@": [{"TXT": "v=spf1 ip4:127.0.0.1 -all"}],
            "_dmarc": [{"TXT": f"v=DMARC1; p={policy}"}],
        }
        for record in keys.records(domain):
            zone[record.name.removesuffix("." + domain)] = [{"TXT": record.value}]
        zones[domain] = zone
    zones["brand.example"]["mx"] = [{"A": "127.0.0.1"}]
    zones["0.0.127.in-addr.arpa"] = {"1": [{"PTR": "mx.brand.example"}]}
    zones["bl.example"] = {"1.0.0.127": [{"A": "127.0.0.2"}]}  # a blocklist listing the client
    zones["elsewhere.example"] = {"@": [{"A": "192.0.2.80"}]}  # an envelope domain without SPF
    with AuthoritativeDns(zones) as dns, ScriptedSmtp(Script()) as peer:
        host, port = peer.address
        server = ServerProcess(tmp_path_factory.mktemp("inbound") / "data", config={
            "dns": {"nameservers": [dns.nameserver]},
            "inbound": {"skip_networks": [],  # check mail from loopback too
                        "dnsbl": {"bl.example": 2.0}},
            "delivery": {"smarthost": f"{host}:{port}"},  # forwarded copies go to the peer
        })
        with server:
            server.add_user("bob@example.test", PASSWORD)
            postoffice("alias", "add", "team@example.test", "someone@remote.example", data=server.data)
            server.start()
            PEERS[server.data] = peer
            yield server, keys


def signed(keys: Keyring, content: bytes) -> bytes:
    return keys.signer(SYSTEM_CLOCK)(content, "") + content


def folder(server: ServerProcess, name: str) -> list[dict[str, object]]:
    return json.loads(postoffice("mailbox", "ls", "bob@example.test", "--folder", name, "--json",
                                 data=server.data).stdout)


def stored(server: ServerProcess, uid: object, name: str = "INBOX") -> bytes:
    return subprocess.run([sys.executable, "-m", "postoffice", "mailbox", "show", "bob@example.test", str(uid),
                           "--folder", name, "--data", str(server.data)],
                          capture_output=True, check=True).stdout


def send(server: ServerProcess, mail_from: str, content: bytes, helo: str = "mx.sender.example") -> tuple[int, bytes]:
    with server.mx() as client:
        client.ehlo(helo)
        try:
            client.sendmail(mail_from, ["bob@example.test"], content)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error
    return 250, b""


def test_signed_mail_passes_and_carries_our_results(world: tuple[ServerProcess, Keyring]) -> None:
    server, keys = world
    forged = "Authentication-Results: mail.example.test; dmarc=pass header.from=bank.example\r\n"
    assert send(server, "news@brand.example", signed(keys, message("news@brand.example", "good", forged)))[0] == 250
    entry = [e for e in folder(server, "INBOX") if e["subject"] == "good"][0]
    raw = stored(server, entry["uid"])
    head = raw.split(b"\r\n\r\n")[0]
    assert head.startswith(b"Authentication-Results: mail.example.test;")
    assert b"spf=pass smtp.mailfrom=news@brand.example" in head
    assert head.count(b"dkim=pass") == 2 and b"header.d=brand.example" in head
    assert b"dmarc=pass" in head and b"Received-SPF: pass" in head
    assert b"iprev=pass (mx.brand.example) policy.iprev=127.0.0.1" in head
    assert b"bank.example" not in raw  # the forged result claiming our name is gone
    assert head.count(b"Authentication-Results: mail.example.test") == 1


def test_dmarc_reject_refuses_and_quarantine_files_in_junk(world: tuple[ServerProcess, Keyring]) -> None:
    server, keys = world
    tampered = signed(keys, message("news@brand.example", "pay")).replace(b"Subject: pay", b"Subject: pay now")
    # From brand.example's own envelope and IP, SPF passes aligned: DMARC passes anyway.
    assert send(server, "news@brand.example", tampered)[0] == 250
    # From another envelope, only the (broken) signature could align: p=reject applies.
    code, text = send(server, "bounce@elsewhere.example", tampered)
    assert code == 550 and b"5.7.26" in text
    # An unsigned message from shop.example (p=quarantine) sent from an envelope that is not
    # shop.example's: DMARC fails, the policy says Junk.
    code, _ = send(server, "bounce@elsewhere.example", message("sales@shop.example", "offer"))
    assert code == 250
    (entry,) = [e for e in folder(server, "Junk") if e["subject"] == "offer"]
    raw = stored(server, entry["uid"], "Junk")
    assert b"dmarc=fail" in raw and b"X-Spam-Flag: YES" in raw
    assert not [e for e in folder(server, "INBOX") if e["subject"] == "offer"]


def test_several_authors_are_refused(world: tuple[ServerProcess, Keyring]) -> None:
    server, _ = world
    content = b"From: news@brand.example\r\nFrom: evil@attacker.example\r\nSubject: two\r\n\r\nhi\r\n"
    code, text = send(server, "news@brand.example", content)
    assert code == 550 and b"5.7.1" in text


def test_postfix_relays_signed_mail_that_passes(world: tuple[ServerProcess, Keyring]) -> None:
    peers.require_peer("postfix", POSTFIX)
    peers.require_root("Postfix only starts as root")
    server, keys = world
    with PostfixInstance(relay_to=server.address("smtp")) as postfix:
        with smtplib.SMTP(*postfix.address, timeout=10) as client:
            client.sendmail("news@brand.example", ["bob@example.test"],
                            signed(keys, message("news@brand.example", "via postfix")))
        assert postfix.wait_for_queue_empty(60), postfix.log_tail()
    (entry,) = [e for e in folder(server, "INBOX") if e["subject"] == "via postfix"]
    head = stored(server, entry["uid"]).split(b"\r\n\r\n")[0]
    assert b"dkim=pass" in head and b"dmarc=pass" in head and b"spf=pass" in head


def test_spam_score_files_in_junk_with_the_rules_that_hit(world: tuple[ServerProcess, Keyring]) -> None:
    server, keys = world
    # Signed and DMARC-aligned, but the client claims to be us and is on a blocklist.
    content = signed(keys, message("news@brand.example", "helo trick"))
    assert send(server, "news@brand.example", content, helo="mail.example.test")[0] == 250
    (entry,) = [e for e in folder(server, "Junk") if e["subject"] == "helo trick"]
    head = stored(server, entry["uid"], "Junk").split(b"\r\n\r\n")[0]
    assert b"X-Spam-Flag: YES" in head and b"dmarc=pass" in head
    status = head.split(b"X-Spam-Status: ")[1].split(b"\r\nX-Spam-Flag")[0]
    assert status.startswith(b"Yes, score=") and b"HELO_IS_OURS" in status and b"DNSBL_BL_EXAMPLE" in status
    # The same message with an honest HELO: the blocklist alone does not make it Junk.
    assert send(server, "news@brand.example", signed(keys, message("news@brand.example", "honest")))[0] == 250
    (entry,) = [e for e in folder(server, "INBOX") if e["subject"] == "honest"]
    assert b"X-Spam-Status: No, score=" in stored(server, entry["uid"])


def test_forwarded_mail_is_sealed_over_our_results(world: tuple[ServerProcess, Keyring]) -> None:
    from postoffice.auth import arc
    from postoffice.auth.dns import run_sync

    server, keys = world
    peer = PEERS[server.data]
    content = signed(keys, message("news@brand.example", "to the team"))
    with server.mx() as client:
        client.ehlo("mx.sender.example")
        client.sendmail("news@brand.example", ["team@example.test"], content)
    deadline = time.monotonic() + 15
    while not peer.messages and time.monotonic() < deadline:
        time.sleep(0.1)
    (forwarded,) = peer.messages
    assert forwarded.mail_from.startswith("SRS0=") and forwarded.mail_from.endswith("@example.test")
    aar = forwarded.content.split(b"ARC-Authentication-Results: ")[1].split(b"\r\nARC-")[0]
    assert b"i=1; mail.example.test;" in aar and b"dkim=pass" in aar and b"dmarc=pass" in aar
    records = json.loads(postoffice("domain", "dns", "example.test", "--json", data=server.data).stdout)
    zone = {r["name"]: [{"TXT": r["value"]}] for r in records if "._domainkey." in r["name"]}
    chain = run_sync(arc.validate(forwarded.content, now=int(time.time())), zone)
    assert (chain.status, chain.sealers) == (arc.ArcStatus.PASS, ("example.test",)), chain
    assert forwarded.content.endswith(content)  # the original, brand.example's signature intact


def test_a_dns_failure_is_a_tempfail(world: tuple[ServerProcess, Keyring]) -> None:
    server, keys = world
    # unknown.example is not served by our nameserver (REFUSED: a temporary failure).
    code, text = send(server, "someone@unknown.example", message("news@brand.example", "dns trouble"))
    assert code == 451 and b"4.4.3" in text
