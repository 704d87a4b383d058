"""Greylisting at RCPT: Intake with a real store behind the group committer, and a fake clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postoffice.config import Config, InboundSettings, RelaySettings
from postoffice.pipeline.directory import DirectoryCache
from postoffice.pipeline.greylisting import GREYLISTED, Greylisting
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.session import SessionInfo, Transaction
from postoffice.proto.smtp.reply import Reply
from postoffice.storage import open_store
from postoffice.storage.commit import GroupCommitter
from postoffice.storage.interfaces import GreylistNetwork, StorageError, Store

T0 = 1_700_000_000.0
CLIENT = "192.0.2.10"


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def now(self) -> float:
        return self.t


def _call(store: Store, method: str, *args: object) -> object:
    return getattr(store, method)(*args)


class World:
    def __init__(self, data: Path, settings: InboundSettings) -> None:
        self.data = data
        self.clock = FakeClock()
        self.settings = settings

    def rcpt(self, to: str, *, mail_from: str = "alice@remote.example", client: str = CLIENT,
             listener: str = "smtp", auth: str | None = None, trusted: bool = False) -> str:
        """The reply to RCPT TO in a new session, as "code status"."""
        session = SessionInfo(listener, client, 1, auth_identity=auth, trusted=trusted)

        async def main() -> str:
            committer = GroupCommitter(lambda: open_store(self.data))
            committer.start()
            try:
                config = Config(data_dir=self.data, inbound=self.settings,
                                relay=RelaySettings(trusted_networks=()))
                intake = Intake(
                    config=config, clock=self.clock, blobs=committer.blobs,
                    directory=DirectoryCache(lambda m, *a: committer.run(_call, m, *a)),
                    commit=committer.commit,
                    greylist=Greylisting(settings=self.settings, run=committer.run,
                                         clock=self.clock),
                )
                reply = await intake.rcpt_to(session, Transaction(mail_from), to, {}, False)
                return f"{reply.code} {reply.status}"
            finally:
                await committer.close()

        return asyncio.run(main())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    data = tmp_path / "data"
    store = open_store(data)
    for domain in ("example.test", "other.test"):
        store.add_domain(domain)
        store.add_user(f"bob@{domain}", "x")
    store.add_user("postmaster@example.test", "x")
    store.close()
    yield World(data, InboundSettings(skip_networks=("127.0.0.0/8",),
                                      greylist_domains=("example.test",), greylist_delay=60))


def test_first_attempt_is_greylisted_and_a_retry_after_the_delay_passes(world: World) -> None:
    assert world.rcpt("bob@example.test") == "451 4.7.1"
    world.clock.t += 30
    assert world.rcpt("bob@example.test") == "451 4.7.1"  # too early
    world.clock.t += 30
    assert world.rcpt("bob@example.test") == "250 2.1.5"
    # another address of the same /24 is the same sender's pool
    world.clock.t += 86400
    assert world.rcpt("bob@example.test", client="192.0.2.99") == "250 2.1.5"
    # another sender, or another network, is a new triplet
    assert world.rcpt("bob@example.test", mail_from="carol@remote.example") == "451 4.7.1"
    assert world.rcpt("bob@example.test", client="198.51.100.10") == "451 4.7.1"


def test_an_unknown_user_is_still_refused(world: World) -> None:
    assert world.rcpt("nobody@example.test") == "550 5.1.1"


def test_only_the_configured_domains_and_not_postmaster(world: World) -> None:
    assert world.rcpt("bob@other.test") == "250 2.1.5"
    assert world.rcpt("postmaster@example.test") == "250 2.1.5"


def test_sessions_from_inside_are_not_greylisted(world: World) -> None:
    assert world.rcpt("bob@example.test", client="127.0.0.1") == "250 2.1.5"  # skip_networks
    assert world.rcpt("bob@example.test", auth="bob@other.test", listener="submission") == "250 2.1.5"
    assert world.rcpt("bob@example.test", trusted=True) == "250 2.1.5"
    assert world.rcpt("bob@example.test", auth="bob@other.test") == "250 2.1.5"  # AUTH on the MX


def test_the_null_sender_is_greylisted(world: World) -> None:
    assert world.rcpt("bob@example.test", mail_from="") == "451 4.7.1"
    world.clock.t += 60
    assert world.rcpt("bob@example.test", mail_from="") == "250 2.1.5"


def test_an_allowlisted_network_passes_at_once(world: World) -> None:
    store = open_store(world.data)
    store.put_greylist_network(GreylistNetwork("192.0.2.0/24", 5, T0 + 86400))
    store.close()
    assert world.rcpt("bob@example.test") == "250 2.1.5"
    store = open_store(world.data)
    try:
        assert store.get_greylist("192.0.2.0/24", "alice@remote.example", "bob@example.test") is None
    finally:
        store.close()


def test_passes_are_counted_per_network(world: World) -> None:
    for n in range(2):
        assert world.rcpt("bob@example.test", mail_from=f"s{n}@remote.example") == "451 4.7.1"
    world.clock.t += 60
    for n in range(2):
        assert world.rcpt("bob@example.test", mail_from=f"s{n}@remote.example") == "250 2.1.5"
    store = open_store(world.data)
    try:
        network = store.get_greylist_network("192.0.2.0/24")
        assert network is not None and network.passes == 2
    finally:
        store.close()


def test_all_local_domains_with_a_star(world: World) -> None:
    world.settings = dataclasses.replace(world.settings, greylist_domains=("*",))
    assert world.rcpt("bob@other.test") == "451 4.7.1"


def test_passes_are_cached_and_expired_rows_purged(world: World) -> None:
    store = open_store(world.data)
    store.put_greylist_network(GreylistNetwork("198.51.100.0/24", 1, T0 - 1))
    store.close()
    calls = []

    async def main() -> list[Reply | None]:
        committer = GroupCommitter(lambda: open_store(world.data))
        committer.start()

        async def run(fn: Any, *args: Any) -> Any:
            calls.append(args[-1])  # purge?
            return await committer.run(fn, *args)

        greylisting = Greylisting(settings=world.settings, run=run, clock=world.clock)
        try:
            replies = [await greylisting.check(CLIENT, "a@remote.example", "bob@example.test")]
            world.clock.t += 60
            for _ in range(3):
                replies.append(await greylisting.check(CLIENT, "a@remote.example", "bob@example.test"))
            return replies
        finally:
            await committer.close()

    assert asyncio.run(main()) == [GREYLISTED, None, None, None]
    assert calls == [True, False]  # the first call purged; the passes after the first are cached
    store = open_store(world.data)
    try:
        assert store.get_greylist_network("198.51.100.0/24") is None
    finally:
        store.close()


def test_a_storage_failure_lets_the_recipient_through(world: World) -> None:
    async def broken(*args: object) -> object:
        raise StorageError("disk on fire")

    greylisting = Greylisting(settings=world.settings, run=broken, clock=world.clock)
    assert asyncio.run(greylisting.check(CLIENT, "alice@remote.example", "bob@example.test")) is None
