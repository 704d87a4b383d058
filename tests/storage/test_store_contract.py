"""The Store contract: every backend must pass these (see conftest.BACKENDS)."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

import pytest

from postoffice.message.envelope import Recipient
from postoffice.storage import (
    AlreadyExists,
    InUse,
    NotFound,
    StorageError,
    Store,
)
from postoffice.storage.sqlite.migrate import available

if TYPE_CHECKING:
    from conftest import Backend, Mail

# schema


def test_migrate_is_idempotent(store: Store) -> None:
    latest = available()[-1].version
    assert store.schema_version() == latest
    assert store.migrate() == []
    assert store.migrate() == []
    assert store.schema_version() == latest


def test_a_second_store_on_the_same_location_sees_the_same_data(backend: Backend) -> None:
    first = backend.open()
    first.add_domain("example.org")
    second = backend.open()
    assert second.is_local_domain("example.org")
    assert second.migrate() == []


# domains


def test_domains_are_stored_lower_case(store: Store) -> None:
    before = time.time()
    domain = store.add_domain("Example.ORG.")
    assert domain.name == "example.org"
    assert before <= domain.created_at <= time.time()
    assert store.list_domains() == [domain]
    assert store.is_local_domain("EXAMPLE.org")
    assert store.is_local_domain("example.org.")
    assert not store.is_local_domain("example.net")
    assert not store.is_local_domain("")


def test_domains_are_listed_by_name(store: Store) -> None:
    for name in ("b.example", "c.example", "a.example"):
        store.add_domain(name)
    assert [d.name for d in store.list_domains()] == ["a.example", "b.example", "c.example"]


def test_adding_a_domain_twice_fails(store: Store) -> None:
    store.add_domain("example.org")
    with pytest.raises(AlreadyExists, match="example.org"):
        store.add_domain("EXAMPLE.org")


def test_non_ascii_domains_become_a_labels(store: Store) -> None:
    assert store.add_domain("Bücher.example").name == "xn--bcher-kva.example"
    assert store.is_local_domain("bücher.example")


def test_remove_domain(store: Store) -> None:
    store.add_domain("example.org")
    store.remove_domain("Example.org")
    assert store.list_domains() == []
    assert not store.is_local_domain("example.org")
    with pytest.raises(NotFound):
        store.remove_domain("example.org")


def test_removing_a_domain_with_users_fails_clearly(mailbox: Store) -> None:
    with pytest.raises(InUse, match=r"example.org still has 2 user\(s\)") as info:
        mailbox.remove_domain("example.org")
    assert isinstance(info.value, StorageError)
    assert mailbox.is_local_domain("example.org")
    mailbox.remove_user("alice@example.org")
    mailbox.remove_user("bob@example.org")
    mailbox.remove_domain("example.org")


# users


def test_add_user(store: Store) -> None:
    store.add_domain("example.org")
    user = store.add_user("Alice@Example.ORG", "hash", ["Alias@Example.org", "@Other.Example"])
    assert user.address == "alice@example.org"
    assert user.password_hash == "hash"
    assert user.allowed_senders == ("alias@example.org", "@other.example")
    assert store.get_user("ALICE@example.org") == user
    assert store.get_user("nobody@example.org") is None
    assert store.get_user("not an address") is None


def test_user_needs_a_local_domain(store: Store) -> None:
    with pytest.raises(NotFound, match="example.org"):
        store.add_user("alice@example.org", "hash")
    with pytest.raises(ValueError):
        store.add_user("no-at-sign", "hash")


def test_adding_a_user_twice_fails(mailbox: Store) -> None:
    with pytest.raises(AlreadyExists, match="alice@example.org"):
        mailbox.add_user("ALICE@example.org", "other")
    assert mailbox.get_user("alice@example.org").password_hash == "hash-a"  # type: ignore[union-attr]


def test_list_users(mailbox: Store) -> None:
    mailbox.add_domain("example.net")
    mailbox.add_user("carol@example.net", "hash-c")
    assert [u.address for u in mailbox.list_users()] == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.net",
    ]
    assert [u.address for u in mailbox.list_users("EXAMPLE.net")] == ["carol@example.net"]
    assert mailbox.list_users("unknown.example") == []


def test_set_password_and_allowed_senders(mailbox: Store) -> None:
    mailbox.set_password("Alice@example.org", "new-hash")
    mailbox.set_allowed_senders("alice@example.org", ["@Example.NET", "x@example.net"])
    user = mailbox.get_user("alice@example.org")
    assert user is not None
    assert user.password_hash == "new-hash"
    assert user.allowed_senders == ("@example.net", "x@example.net")
    mailbox.set_allowed_senders("alice@example.org", [])
    assert mailbox.get_user("alice@example.org").allowed_senders == ()  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        mailbox.set_password("nobody@example.org", "x")
    with pytest.raises(NotFound):
        mailbox.set_allowed_senders("nobody@example.org", [])


def test_new_users_get_the_standard_folders(mailbox: Store) -> None:
    folders = mailbox.list_folders("alice@example.org")
    assert [(f.name, f.special_use) for f in folders] == [
        ("INBOX", None),
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
        ("Trash", "\\Trash"),
        ("Archive", "\\Archive"),
    ]
    assert all(f.uidnext == 1 and 0 < f.uidvalidity < 2**32 for f in folders)
    with pytest.raises(NotFound):
        mailbox.list_folders("nobody@example.org")


def test_a_recreated_user_gets_a_new_uidvalidity(mailbox: Store) -> None:
    before = mailbox.list_folders("alice@example.org")[0].uidvalidity
    mailbox.remove_user("alice@example.org")
    mailbox.add_user("alice@example.org", "hash")
    assert mailbox.list_folders("alice@example.org")[0].uidvalidity > before


def test_remove_user_removes_the_mailbox(mailbox: Store, mail: Mail) -> None:
    mail.accept(local=["alice@example.org"])
    mailbox.remove_user("alice@example.org")
    assert mailbox.get_user("alice@example.org") is None
    with pytest.raises(NotFound):
        mailbox.list_mailbox("alice@example.org")
    with pytest.raises(NotFound):
        mailbox.remove_user("alice@example.org")
    assert [u.address for u in mailbox.list_users()] == ["bob@example.org"]


# accepting messages


def test_accept_relay_creates_queue_rows(store: Store, mail: Mail) -> None:
    pending = mail.blob(b"Subject: hi\r\n\r\nhello\r\n")
    acceptance = mail.acceptance(
        pending,
        relay=[
            Recipient("Bob@Remote.example", ("SUCCESS", "FAILURE"), "rfc822;Bob@Remote.example"),
            "carol@remote.example",
        ],
        lane="bulk",
        source="submission",
        auth_identity="alice@example.org",
        body="8BITMIME",
        smtputf8=True,
        ret="HDRS",
        envid="env-1",
    )
    store.accept([(pending, acceptance)])

    message = acceptance.message
    assert store.get_message(message.id) == message
    items = store.list_queue()
    assert [(q.recipient, q.notify, q.orcpt) for q in items] == [
        ("Bob@Remote.example", ("SUCCESS", "FAILURE"), "rfc822;Bob@Remote.example"),
        ("carol@remote.example", (), None),
    ]
    for item in items:
        assert item.message_id == message.id
        assert item.lane == "bulk"
        assert item.status == "queued"
        assert item.attempts == 0
        assert item.next_attempt_at == item.created_at == message.received_at
        assert item.last_error is None
        assert (item.mail_from, item.size) == (message.mail_from, message.size)
    assert items[0].id < items[1].id
    assert store.blobs.read(pending.digest) == b"Subject: hi\r\n\r\nhello\r\n"
    assert pending.digest == hashlib.sha256(b"Subject: hi\r\n\r\nhello\r\n").hexdigest()


def test_list_queue_filters_and_limits(store: Store, mail: Mail) -> None:
    for i in range(5):
        mail.accept(relay=[f"r{i}@remote.example"])
    assert len(store.list_queue()) == 5
    assert [q.recipient for q in store.list_queue(limit=2)] == [
        "r0@remote.example",
        "r1@remote.example",
    ]
    assert len(store.list_queue("queued")) == 5
    assert store.list_queue("held") == []


def test_accept_local_files_into_inbox(mailbox: Store, mail: Mail) -> None:
    pending = mail.blob()
    acceptance = mail.acceptance(pending, local=["Alice@Example.org", "bob@example.org"])
    mailbox.accept([(pending, acceptance)])
    for address in ("alice@example.org", "bob@example.org"):
        (entry,) = mailbox.list_mailbox(address)
        assert entry.folder == "INBOX"
        assert entry.uid == 1
        assert entry.message_id == acceptance.message.id
        assert (entry.blob, entry.size) == (pending.digest, pending.size)
        assert entry.flags == ()
        assert entry.internal_date == acceptance.message.received_at
        assert mailbox.get_mailbox_entry(address, 1) == entry
        assert mailbox.list_folders(address)[0].uidnext == 2
    assert mailbox.list_queue() == []
    assert mailbox.list_mailbox("alice@example.org", "Sent") == []


def test_accept_marked_junk_files_into_the_junk_folder(mailbox: Store, mail: Mail) -> None:
    from dataclasses import replace

    mail.accept(local=["alice@example.org"])
    pending = mail.blob()
    junk = replace(mail.acceptance(pending, local=["alice@example.org"]), junk=True)
    other = mail.blob()
    clean = mail.acceptance(other, local=["alice@example.org"])
    mailbox.accept([(pending, junk), (other, clean)])  # one batch, two folders
    (entry,) = mailbox.list_mailbox("alice@example.org", "Junk")
    assert (entry.folder, entry.uid, entry.message_id) == ("Junk", 1, junk.message.id)
    assert [e.message_id for e in mailbox.list_mailbox("alice@example.org")][-1] == clean.message.id
    assert len(mailbox.list_mailbox("alice@example.org")) == 2
    folders = {f.name: f for f in mailbox.list_folders("alice@example.org")}
    assert (folders["INBOX"].uidnext, folders["Junk"].uidnext) == (3, 2)


def test_mailbox_lookups_of_missing_things(mailbox: Store) -> None:
    assert mailbox.get_mailbox_entry("alice@example.org", 1) is None
    assert mailbox.get_mailbox_entry("alice@example.org", 1, "Nope") is None
    assert mailbox.get_mailbox_entry("nobody@example.org", 1) is None
    with pytest.raises(NotFound):
        mailbox.list_mailbox("alice@example.org", "Nope")
    with pytest.raises(NotFound):
        mailbox.list_mailbox("nobody@example.org")
    assert mailbox.get_message("01ARZ3NDEKTSV4RRFFQ69G5FAV") is None


def test_uids_increase_per_folder(mailbox: Store, mail: Mail) -> None:
    mail.accept(local=["alice@example.org"])
    batch = []
    for local in (
        ["alice@example.org"],
        ["alice@example.org", "bob@example.org"],
        ["bob@example.org"],
    ):
        pending = mail.blob()
        batch.append((pending, mail.acceptance(pending, local=local)))
    mailbox.accept(batch)
    mail.accept(local=["alice@example.org", "alice@example.org"])  # listed twice: filed once

    alice = mailbox.list_mailbox("alice@example.org")
    bob = mailbox.list_mailbox("bob@example.org")
    assert [e.uid for e in alice] == [1, 2, 3, 4]
    assert [e.uid for e in bob] == [1, 2]
    assert [e.message_id for e in alice[1:3]] == [a.message.id for _, a in batch[:2]]
    assert [e.message_id for e in bob] == [a.message.id for _, a in batch[1:]]
    assert mailbox.list_folders("alice@example.org")[0].uidnext == 5
    assert mailbox.list_folders("bob@example.org")[0].uidnext == 3


def test_accept_is_atomic(mailbox: Store, mail: Mail) -> None:
    """One unknown local address fails the whole batch: no row of it is visible.

    The blob files of the batch may remain in blobs/ as unreferenced orphans (they are made
    durable before the transaction); garbage collection removes them."""
    good = mail.blob()
    bad = mail.blob()
    batch = [
        (good, mail.acceptance(good, local=["alice@example.org"], relay=["x@remote.example"])),
        (bad, mail.acceptance(bad, local=["alice@example.org", "nobody@example.org"])),
    ]
    with pytest.raises(NotFound, match="nobody@example.org"):
        mailbox.accept(batch)
    assert mailbox.get_message(batch[0][1].message.id) is None
    assert mailbox.get_message(batch[1][1].message.id) is None
    assert mailbox.list_queue() == []
    assert mailbox.list_mailbox("alice@example.org") == []
    assert mailbox.list_folders("alice@example.org")[0].uidnext == 1
    assert list(mailbox.iter_blob_refs()) == []


def test_a_failed_accept_can_be_retried(mailbox: Store, mail: Mail) -> None:
    pending = mail.blob(b"retry me")
    acceptance = mail.acceptance(pending, local=["carol@example.org"])
    with pytest.raises(NotFound):
        mailbox.accept([(pending, acceptance)])
    mailbox.add_user("carol@example.org", "hash")
    mailbox.accept([(pending, acceptance)])
    (entry,) = mailbox.list_mailbox("carol@example.org")
    assert mailbox.blobs.read(entry.blob) == b"retry me"


def test_a_duplicate_message_id_is_refused(mailbox: Store, mail: Mail) -> None:
    first = mail.accept(relay=["x@remote.example"])
    with pytest.raises(AlreadyExists):
        mail.accept(local=["alice@example.org"], message_id=first.message.id)
    assert mailbox.list_mailbox("alice@example.org") == []
    assert len(mailbox.list_queue()) == 1


def test_a_blob_must_match_its_message(store: Store, mail: Mail) -> None:
    pending = mail.blob(b"one")
    acceptance = mail.acceptance(mail.blob(b"two"), relay=["x@remote.example"])
    with pytest.raises(ValueError):
        store.accept([(pending, acceptance)])
    assert store.list_queue() == []


def test_accepting_nothing_does_nothing(store: Store) -> None:
    store.accept([])
    assert store.list_queue() == []


def test_same_content_is_stored_once(mailbox: Store, mail: Mail) -> None:
    content = b"Subject: same\r\n\r\nsame\r\n"
    first, second, third = mail.blob(content), mail.blob(content), mail.blob(content)
    mailbox.accept([(first, mail.acceptance(first, local=["alice@example.org"]))])
    mailbox.accept(
        [
            (second, mail.acceptance(second, relay=["x@remote.example"])),
            (third, mail.acceptance(third, local=["bob@example.org"])),
            (third, mail.acceptance(third, local=["alice@example.org"])),
        ]
    )
    digests = {e.blob for e in mailbox.list_mailbox("alice@example.org")}
    digests |= {e.blob for e in mailbox.list_mailbox("bob@example.org")}
    assert digests == {first.digest}
    assert list(mailbox.iter_blob_refs()) == [first.digest]
    assert mailbox.blobs.read(first.digest) == content
    assert len(mailbox.list_mailbox("alice@example.org")) == 2


def test_iter_blob_refs_lists_each_digest_once(mailbox: Store, mail: Mail) -> None:
    accepted = [
        mail.accept(local=["alice@example.org"], relay=["x@remote.example"]) for _ in range(3)
    ]
    assert sorted(mailbox.iter_blob_refs()) == sorted(a.message.blob for a in accepted)


def test_blob_open_and_read(store: Store, mail: Mail) -> None:
    acceptance = mail.accept(relay=["x@remote.example"])
    with store.blobs.open(acceptance.message.blob) as file:
        assert len(file.read()) == acceptance.message.size
    with pytest.raises(NotFound):
        store.blobs.open("0" * 64)
    with pytest.raises(NotFound):
        store.blobs.read("../../postoffice.db")
