"""VERP return paths in the pipeline: which senders get one, and RCPT to one at the intake."""

import asyncio
from pathlib import Path
from typing import Any

import pytest

from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import Config
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.session import SessionInfo, Transaction
from postoffice.pipeline.verp import ReturnPaths, bounce_header
from postoffice.policy.verp import VerpToken, decode, encode
from postoffice.storage.interfaces import User
from postoffice.storage.mailboxes import Quota

SECRET = b"s" * 32
MESSAGE_ID = "01HF7Q3R2M8X4K9Z5V6T7W8Y9A"
USERS = {"alice@example.test", "postmaster@example.test"}


async def lookup(method: str, key: str) -> Any:
    if method == "is_local_domain":
        return key == "example.test"
    if method == "quota":
        return Quota(0, None)
    if method == "active_sieve_script":
        return None
    assert method == "get_user", method
    return User(key, "x", (), 0.0) if key in USERS else None


def paths(mailbox: str = "postmaster@example.test") -> ReturnPaths:
    async def where() -> str:
        return mailbox

    return ReturnPaths(SECRET, is_local_domain=DirectoryCache(lookup).is_local_domain, mailbox=where)


def test_sender_in_a_local_domain_gets_a_return_path() -> None:
    sender = asyncio.run(paths().sender("Bob@Example.TEST", MESSAGE_ID, 42))
    assert sender.startswith("bounce+") and sender.endswith("@example.test")
    assert decode(sender, SECRET) == VerpToken(42, MESSAGE_ID)


@pytest.mark.parametrize("mail_from", ["", "bob@remote.example", "postmaster"])
def test_other_senders_are_left_alone(mail_from: str) -> None:
    assert asyncio.run(paths().sender(mail_from, MESSAGE_ID, 42)) == mail_from


def test_items_past_a_message_token_get_an_item_token() -> None:
    sender = asyncio.run(paths().sender("bob@example.test", MESSAGE_ID, 2**32))
    assert decode(sender, SECRET) == VerpToken(2**32)
    assert bounce_header(VerpToken(2**32)) == b"X-Postoffice-Bounce: item=4294967296\r\n"
    assert bounce_header(VerpToken(7, MESSAGE_ID)) == (
        f"X-Postoffice-Bounce: message={MESSAGE_ID}; item=7\r\n".encode())


def address(item: int = 7, domain: str = "example.test", secret: bytes = SECRET) -> str:
    return encode(token=VerpToken(item, MESSAGE_ID), domain=domain, secret=secret)


def rcpt(txn: Transaction, to: str, verp: ReturnPaths | None, *, relay: bool = False) -> tuple[int, str]:
    intake = Intake(config=Config(data_dir=Path("/nonexistent")), clock=SYSTEM_CLOCK, blobs=None,  # type: ignore[arg-type]
                    directory=DirectoryCache(lookup), commit=None, verp=verp)  # type: ignore[arg-type]
    session = SessionInfo("smtp", "192.0.2.1", 1, auth_identity="bob@example.test" if relay else None)
    reply = asyncio.run(intake.rcpt_to(session, txn, to, {}, False))
    return reply.code, reply.status


def test_a_return_path_files_into_the_bounce_mailbox() -> None:
    txn = Transaction("")
    assert rcpt(txn, address(7), paths()) == (250, "2.1.5")
    assert rcpt(txn, address(7).upper(), paths()) == (250, "2.1.5")  # a relay changed the case
    assert rcpt(txn, address(8), paths()) == (250, "2.1.5")
    assert txn.local == ["postmaster@example.test"] and txn.relay == []
    assert txn.bounces == [VerpToken(7, MESSAGE_ID), VerpToken(8, MESSAGE_ID)]


@pytest.mark.parametrize("to", [
    address(secret=b"other secret"),
    address().replace("bounce+", "bounce+a"),
    "bounce+aaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test",
])
def test_a_forged_return_path_is_an_unknown_user(to: str) -> None:
    txn = Transaction("")
    assert rcpt(txn, to, paths()) == (550, "5.1.1")
    assert txn.local == [] and txn.bounces == []


def test_return_paths_only_in_local_domains_and_only_with_verp() -> None:
    assert rcpt(Transaction(""), address(domain="remote.example"), paths()) == (554, "5.7.1")
    assert rcpt(Transaction(""), address(), None) == (550, "5.1.1")


def test_bounces_take_a_transaction_of_their_own() -> None:
    txn = Transaction("")
    assert rcpt(txn, "alice@example.test", paths()) == (250, "2.1.5")
    assert rcpt(txn, address(), paths()) == (452, "4.5.3")
    txn = Transaction("")
    assert rcpt(txn, address(), paths()) == (250, "2.1.5")
    assert rcpt(txn, "alice@example.test", paths()) == (452, "4.5.3")
    assert rcpt(txn, "x@remote.example", paths(), relay=True) == (452, "4.5.3")
    assert rcpt(txn, "nobody@example.test", paths()) == (550, "5.1.1")  # refusals stay refusals
    assert txn.local == ["postmaster@example.test"] and txn.relay == []


def test_a_missing_bounce_mailbox_is_a_temporary_failure() -> None:
    txn = Transaction("")
    assert rcpt(txn, address(), paths("gone@example.test")) == (451, "4.3.0")
    assert txn.local == [] and txn.bounces == []
