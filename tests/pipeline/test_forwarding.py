"""Aliases and SRS addresses at RCPT, and the seal a forwarded copy gets."""

import asyncio
from pathlib import Path
from typing import Any

from postoffice.auth import arc
from postoffice.auth.dkim.keys import generate_key, public_key_record, record_name
from postoffice.auth.dkim.sign import SigningKey
from postoffice.auth.dns import run_sync
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.forwarding import Forwarding
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.session import SessionInfo, Transaction
from postoffice.pipeline.verp import ReturnPaths
from postoffice.policy import srs
from postoffice.storage.interfaces import Alias, User
from postoffice.storage.mailboxes import Quota

SECRET = b"k" * 32
USERS = {"bob@example.test", "carol@example.test"}
ALIASES = {
    "team@example.test": ("bob@example.test", "someone@remote.example", "all@example.test"),
    "all@example.test": ("carol@example.test", "team@example.test", "ghost@example.test"),
    "loop@example.test": ("loop@example.test",),
}
KEY = SigningKey("example.test", "s1", generate_key("rsa-sha256"))
MESSAGE = b"From: alice@sender.example\r\nSubject: hi\r\n\r\nhello\r\n"


async def lookup(method: str, key: str) -> Any:
    if method == "is_local_domain":
        return key == "example.test"
    if method == "get_alias":
        return Alias(key, ALIASES[key], 0.0) if key in ALIASES else None
    if method == "quota":
        return Quota(0, None)
    if method == "active_sieve_script":
        return None
    assert method == "get_user", method
    return User(key, "x", (), 0.0) if key in USERS else None


def forwarding() -> Forwarding:
    return Forwarding(SECRET, authserv_id="mail.example.test",
                      key_for=lambda d: KEY if d == "example.test" else None, clock=SYSTEM_CLOCK)


def rcpt(txn: Transaction, to: str, *, relay: bool = False) -> int:
    intake = Intake(config=Config(data_dir=Path("/nonexistent")), clock=SYSTEM_CLOCK, blobs=None,  # type: ignore[arg-type]
                    directory=DirectoryCache(lookup), commit=None, forwarding=forwarding())  # type: ignore[arg-type]
    session = SessionInfo("smtp", "192.0.2.1", 1, auth_identity="bob@example.test" if relay else None)
    return asyncio.run(intake.rcpt_to(session, txn, to, {}, False)).code


def test_an_alias_expands_to_mailboxes_and_remote_copies() -> None:
    txn = Transaction("alice@sender.example")
    assert rcpt(txn, "Team@example.test") == 250
    # Aliases of aliases are followed once each; unknown local targets are dropped.
    assert txn.local == ["bob@example.test", "carol@example.test"]
    assert [r.address for r in txn.forwards["example.test"]] == ["someone@remote.example"]
    assert txn.relay == [] and txn.recipient_count == 3
    assert rcpt(txn, "loop@example.test") == 550  # nothing left of it
    assert rcpt(txn, "nobody@example.test") == 550
    assert rcpt(txn, "someone@remote.example") == 554  # the MX still relays nothing else


def test_submission_to_an_alias_expands_too() -> None:
    txn = Transaction("bob@example.test")
    assert rcpt(txn, "team@example.test", relay=True) == 250
    assert [r.address for r in txn.forwards["example.test"]] == ["someone@remote.example"]


def test_an_srs_address_of_ours_goes_back_to_the_sender() -> None:
    day = int(SYSTEM_CLOCK.now() // 86400)
    address = srs.forward("alice@sender.example", "example.test", SECRET, day)
    txn = Transaction("")
    assert rcpt(txn, address) == 250 and rcpt(txn, address.lower()) == 250
    assert [r.address for r in txn.forwards["example.test"]] == ["alice@sender.example"]
    to_bob = srs.forward("bob@example.test", "example.test", SECRET, day)
    assert to_bob == "bob@example.test"  # our own senders are not rewritten
    for forged in (srs.forward("alice@sender.example", "example.test", b"other", day),
                   srs.forward("alice@sender.example", "example.test", SECRET, day - 30)):
        assert rcpt(Transaction(""), forged) == 550


def test_verp_leaves_srs_senders_alone() -> None:
    async def mailbox() -> str:
        return "postmaster@example.test"

    paths = ReturnPaths(SECRET, is_local_domain=DirectoryCache(lookup).is_local_domain, mailbox=mailbox)
    sender = srs.forward("alice@sender.example", "example.test", SECRET, 20000)
    assert asyncio.run(paths.sender(sender, "01HF7Q3R2M8X4K9Z5V6T7W8Y9A", 1)) == sender


def zone() -> dict[str, list[dict[str, object]]]:
    return {record_name("s1", "example.test"): [{"TXT": public_key_record(KEY.private_key)}]}


def test_seal_records_the_checks_and_validates() -> None:
    authres = "mail.example.test; spf=pass smtp.mailfrom=alice@sender.example"
    none = arc.ArcResult(arc.ArcStatus.NONE, "no ARC header fields")
    fields = forwarding().seal(MESSAGE, "example.test", authres=authres, chain=none)
    assert b"ARC-Authentication-Results: i=1; mail.example.test; spf=pass" in fields
    result = run_sync(arc.validate(fields + MESSAGE, now=int(SYSTEM_CLOCK.now())), zone())
    assert result.status is arc.ArcStatus.PASS
    # Unchecked mail: cv=none and "none"; a domain without a key: no seal.
    unchecked = forwarding().seal(MESSAGE, "example.test", authres=None, chain=None)
    assert b"i=1; mail.example.test; none" in unchecked and b"cv=none" in unchecked
    assert forwarding().seal(MESSAGE, "other.example", authres=None, chain=None) == b""
