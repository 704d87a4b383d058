"""The mailbox part of the Store contract (IMAP, POP3, the MDA): folders, uids, modseqs,
flags, copy/move/expunge, quotas, summaries, Sieve scripts."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol

import pytest

from postoffice.storage import AlreadyExists, Filing, InUse, NotFound, Store
from postoffice.storage.mailboxes import NewMessage, QuotaExceeded, Summary

if TYPE_CHECKING:
    from conftest import Backend, Mail

ALICE = "alice@example.org"


@pytest.fixture
def mailbox(store: Store) -> Store:
    store.add_domain("example.org")
    store.add_user(ALICE, "x")
    return store


class Append(Protocol):
    def __call__(self, folder: str = "INBOX", count: int = 1, flags: tuple[str, ...] = (),
                 size: int = 0) -> list[int]: ...


@pytest.fixture
def append(mailbox: Store, mail: Mail) -> Append:
    """Add `count` messages to one of Alice's folders; their uids."""

    def add(folder: str = "INBOX", count: int = 1, flags: tuple[str, ...] = (),
            size: int = 0) -> list[int]:
        messages = [NewMessage(mail.blob(mail.content() + b"x" * size), flags, 1_700_000_000.0)
                    for _ in range(count)]
        return mailbox.append_messages(ALICE, folder, messages)[1]

    return add


def test_new_users_have_the_special_use_folders_subscribed(mailbox: Store) -> None:
    folders = {f.name: f for f in mailbox.list_folders(ALICE)}
    assert {name: f.special_use for name, f in folders.items()} == {
        "INBOX": None, "Sent": "\\Sent", "Drafts": "\\Drafts", "Junk": "\\Junk",
        "Trash": "\\Trash", "Archive": "\\Archive"}
    assert set(mailbox.subscriptions(ALICE)) == set(folders)
    assert all(f.selectable and f.id for f in folders.values())


def test_create_makes_parents_and_refuses_duplicates(mailbox: Store) -> None:
    created = mailbox.create_folder(ALICE, "a/b/c/")
    assert created.name == "a/b/c"
    names = {f.name for f in mailbox.list_folders(ALICE)}
    assert {"a", "a/b", "a/b/c"} <= names
    with pytest.raises(AlreadyExists):
        mailbox.create_folder(ALICE, "a/b")
    with pytest.raises(ValueError):
        mailbox.create_folder(ALICE, "a//b")
    assert mailbox.get_folder(ALICE, "inbox") is not None


def test_uidvalidity_never_repeats_for_a_recreated_name(mailbox: Store) -> None:
    first = mailbox.create_folder(ALICE, "box")
    mailbox.delete_folder(ALICE, "box")
    again = mailbox.create_folder(ALICE, "box")
    assert again.uidvalidity > first.uidvalidity


def test_append_assigns_ascending_uids_and_modseqs(mailbox: Store, append: Append) -> None:
    uids = append(count=3, flags=("\\Seen", "$Label"))
    assert uids == [1, 2, 3]
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert inbox is not None and inbox.uidnext == 4
    rows = mailbox.folder_messages(inbox.id)
    assert [r.uid for r in rows] == uids
    assert [r.flags for r in rows] == [("\\Seen", "$Label")] * 3
    assert len({r.modseq for r in rows}) == 3
    assert max(r.modseq for r in rows) == inbox.highestmodseq
    with pytest.raises(NotFound):
        append("Nope")


def test_store_flags_modes_and_unchangedsince(mailbox: Store, append: Append) -> None:
    append(count=2)
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert inbox is not None
    added = mailbox.store_flags(inbox.id, [1, 2], "add", ["\\Seen", "Work"])
    assert [r.flags for r in added.changed] == [("\\Seen", "Work")] * 2
    # keywords compare without case; the first spelling stays
    same = mailbox.store_flags(inbox.id, [1], "add", ["work"])
    assert same.changed == ()
    removed = mailbox.store_flags(inbox.id, [1], "remove", ["WORK"])
    assert removed.changed[0].flags == ("\\Seen",)
    replaced = mailbox.store_flags(inbox.id, [2], "replace", ["\\Flagged"])
    assert replaced.changed[0].flags == ("\\Flagged",)
    old = added.changed[0].modseq
    refused = mailbox.store_flags(inbox.id, [1, 2], "add", ["\\Answered"], unchanged_since=old)
    assert refused.refused == (1, 2)
    assert refused.changed == ()
    changes = mailbox.folder_changes(inbox.id, old)
    assert [r.uid for r in changes.changed] == [1, 2]


def test_expunge_removes_only_deleted_and_reports_vanished(mailbox: Store, append: Append) -> None:
    append(count=4)
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert inbox is not None
    mailbox.store_flags(inbox.id, [2, 3, 4], "add", ["\\Deleted"])
    before = mailbox.get_folder(ALICE, "INBOX")
    assert before is not None
    assert mailbox.expunge(inbox.id, [1, 2, 3]) == [2, 3]
    assert [r.uid for r in mailbox.folder_messages(inbox.id)] == [1, 4]
    changes = mailbox.folder_changes(inbox.id, before.highestmodseq)
    assert changes.vanished == (2, 3)
    assert changes.folder.highestmodseq > before.highestmodseq
    assert mailbox.expunge(inbox.id) == [4]


def test_copy_and_move_keep_flags_and_map_uids(mailbox: Store, append: Append) -> None:
    append(count=3, flags=("\\Seen",))
    inbox = mailbox.get_folder(ALICE, "INBOX")
    archive = mailbox.get_folder(ALICE, "Archive")
    assert inbox is not None and archive is not None
    target, pairs = mailbox.copy_messages(inbox.id, [1, 3], archive.id)
    assert pairs == [(1, 1), (3, 2)]
    assert target.uidnext == 3
    assert [r.flags for r in mailbox.folder_messages(archive.id)] == [("\\Seen",)] * 2
    _, moved = mailbox.copy_messages(inbox.id, [2], archive.id, move=True)
    assert moved == [(2, 3)]
    assert [r.uid for r in mailbox.folder_messages(inbox.id)] == [1, 3]
    assert mailbox.folder_changes(inbox.id, 0).vanished == (2,)


def test_another_users_folder_is_never_a_target(mailbox: Store, append: Append) -> None:
    mailbox.add_user("bob@example.org", "x")
    append()
    inbox = mailbox.get_folder(ALICE, "INBOX")
    bobs = mailbox.get_folder("bob@example.org", "INBOX")
    assert inbox is not None and bobs is not None
    with pytest.raises(NotFound):
        mailbox.copy_messages(inbox.id, [1], bobs.id)
    assert mailbox.folder_messages(bobs.id) == []


def test_delete_with_children_keeps_a_noselect_name(mailbox: Store, append: Append) -> None:
    mailbox.create_folder(ALICE, "p/q")
    append("p")
    mailbox.delete_folder(ALICE, "p")
    parent = mailbox.get_folder(ALICE, "p")
    assert parent is not None and not parent.selectable
    assert mailbox.folder_messages(parent.id) == []
    with pytest.raises(NotFound):
        append("p")
    with pytest.raises(InUse):
        mailbox.delete_folder(ALICE, "p")
    with pytest.raises(InUse):
        mailbox.delete_folder(ALICE, "INBOX")


def test_rename_moves_children_and_inbox_rename_moves_messages(mailbox: Store, append: Append) -> None:
    mailbox.create_folder(ALICE, "a/b")
    first = mailbox.get_folder(ALICE, "a")
    mailbox.rename_folder(ALICE, "a", "x/y")
    names = {f.name for f in mailbox.list_folders(ALICE)}
    assert {"x", "x/y", "x/y/b"} <= names and "a" not in names
    renamed = mailbox.get_folder(ALICE, "x/y")
    assert renamed is not None and first is not None
    assert renamed.uidvalidity == first.uidvalidity
    with pytest.raises(AlreadyExists):
        mailbox.rename_folder(ALICE, "x/y", "Sent")
    append(count=2)
    mailbox.rename_folder(ALICE, "INBOX", "Old")
    old = mailbox.get_folder(ALICE, "Old")
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert old is not None and inbox is not None
    assert len(mailbox.folder_messages(old.id)) == 2
    assert mailbox.folder_messages(inbox.id) == []


def test_recent_is_claimed_once(mailbox: Store, append: Append) -> None:
    append(count=2)
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert inbox is not None
    assert mailbox.folder_status(inbox.id).recent == 2
    assert mailbox.claim_recent(inbox.id) == (1, 3)
    assert mailbox.claim_recent(inbox.id) == (3, 3)
    assert mailbox.folder_status(inbox.id).recent == 0


def test_status_counts(mailbox: Store, append: Append) -> None:
    append(count=3)
    inbox = mailbox.get_folder(ALICE, "INBOX")
    assert inbox is not None
    mailbox.store_flags(inbox.id, [1], "add", ["\\Seen"])
    mailbox.store_flags(inbox.id, [2], "add", ["\\Deleted"])
    status = mailbox.folder_status(inbox.id)
    assert (status.messages, status.unseen, status.deleted) == (3, 2, 1)
    assert status.size == sum(r.size for r in mailbox.folder_messages(inbox.id))


def test_quota_counts_every_copy_and_refuses_over_limit(mailbox: Store, append: Append) -> None:
    append(count=2)
    used = mailbox.quota(ALICE).used
    assert used > 0 and mailbox.quota(ALICE).limit is None
    inbox = mailbox.get_folder(ALICE, "INBOX")
    trash = mailbox.get_folder(ALICE, "Trash")
    assert inbox is not None and trash is not None
    mailbox.copy_messages(inbox.id, [1, 2], trash.id)
    assert mailbox.quota(ALICE).used == 2 * used
    mailbox.set_quota(ALICE, 2 * used + 10)
    with pytest.raises(QuotaExceeded):
        append(size=100)
    assert mailbox.quota(ALICE).used == 2 * used
    assert len(mailbox.folder_messages(inbox.id)) == 2
    mailbox.store_flags(trash.id, [1, 2], "add", ["\\Deleted"])
    mailbox.expunge(trash.id)
    assert mailbox.quota(ALICE).used == used


def test_delivery_counts_toward_quota(mailbox: Store, mail: Mail) -> None:
    accepted = mail.accept(local=[ALICE])
    assert mailbox.quota(ALICE).used == accepted.message.size


def test_folder_heads_poll_many_folders(mailbox: Store, append: Append) -> None:
    folders = mailbox.list_folders(ALICE)
    heads = mailbox.folder_heads([f.id for f in folders] + [999_999])
    assert set(heads) == {f.id for f in folders}
    before = heads[folders[0].id]
    append()
    after = mailbox.folder_heads([folders[0].id])[folders[0].id]
    assert after[0] == before[0] + 1 and after[1] > before[1]


def test_summaries_are_shared_by_blob(mailbox: Store) -> None:
    summary = Summary("d" * 64, b"Subject: x\r\n\r\n", b"(NIL)", b"(BODY)", b"(BS)",
                      '{"subject": "x"}')
    mailbox.put_summaries([summary])
    mailbox.put_summaries([summary])
    assert mailbox.get_summaries(["d" * 64, "e" * 64]) == {"d" * 64: summary}


def test_sieve_scripts(mailbox: Store, backend: Backend) -> None:
    mailbox.put_sieve_script(ALICE, "main", "keep;")
    mailbox.put_sieve_script(ALICE, "other", "discard;")
    mailbox.activate_sieve_script(ALICE, "main")
    other_store = backend.open()
    active = other_store.active_sieve_script(ALICE)
    assert active is not None and active.name == "main" and active.source == "keep;"
    with pytest.raises(InUse):
        mailbox.delete_sieve_script(ALICE, "main")
    mailbox.rename_sieve_script(ALICE, "main", "renamed")
    with pytest.raises(AlreadyExists):
        mailbox.rename_sieve_script(ALICE, "renamed", "other")
    mailbox.record_sieve_error(ALICE, "renamed", "line 1: boom")
    got = mailbox.get_sieve_script(ALICE, "renamed")
    assert got is not None and got.active and got.last_error == "line 1: boom"
    mailbox.activate_sieve_script(ALICE, None)
    assert mailbox.active_sieve_script(ALICE) is None
    mailbox.delete_sieve_script(ALICE, "renamed")
    assert [s.name for s in mailbox.list_sieve_scripts(ALICE)] == ["other"]
    with pytest.raises(NotFound):
        mailbox.activate_sieve_script(ALICE, "missing")


def test_vacation_replies_once_per_days(mailbox: Store, backend: Backend) -> None:
    assert mailbox.note_vacation_reply(ALICE, "away", "Bob@Remote.example", 7)
    assert not mailbox.note_vacation_reply(ALICE, "away", "bob@remote.example", 7)
    assert not backend.open().note_vacation_reply(ALICE, "away", "bob@remote.example", 7)
    assert mailbox.note_vacation_reply(ALICE, "other-handle", "bob@remote.example", 7)
    assert mailbox.note_vacation_reply(ALICE, "away", "carol@remote.example", 7)
    with pytest.raises(NotFound):
        mailbox.note_vacation_reply("nobody@example.com", "away", "bob@remote.example", 7)


def test_filed_copies_go_to_their_folders(mailbox: Store, mail: Mail) -> None:
    mailbox.create_folder(ALICE, "Lists")
    pending = mail.blob()
    acceptance = dataclasses.replace(mail.acceptance(pending), filed=(
        Filing(ALICE, "Lists", ("\\Seen", "$label1")),
        Filing(ALICE, "Projects/New", (), create=True),
        Filing(ALICE, "Missing"),
        Filing(ALICE, None, ("\\Flagged",)),
    ))
    mailbox.accept([(pending, acceptance)])
    lists = mailbox.list_mailbox(ALICE, "Lists")
    assert [e.flags for e in lists] == [("\\Seen", "$label1")]
    assert len(mailbox.list_mailbox(ALICE, "Projects/New")) == 1
    assert mailbox.get_folder(ALICE, "Missing") is None
    inbox = mailbox.list_mailbox(ALICE)
    assert sorted(e.flags for e in inbox) == [(), ("\\Flagged",)]
    assert mailbox.quota(ALICE).used == 4 * pending.size


def test_filed_copies_of_junk_default_to_junk(mailbox: Store, mail: Mail) -> None:
    pending = mail.blob()
    acceptance = dataclasses.replace(mail.acceptance(pending), junk=True,
                                     filed=(Filing(ALICE),))
    mailbox.accept([(pending, acceptance)])
    assert len(mailbox.list_mailbox(ALICE, "Junk")) == 1
    assert mailbox.list_mailbox(ALICE) == []
