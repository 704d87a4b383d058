"""SEARCH from columns and flag lists (access/quick_search.py) answers exactly what the
per-message search over full views answers."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest

from postoffice.access import quick_search
from postoffice.access.imap import ImapService
from postoffice.proto.imap import commands as c
from postoffice.proto.imap import matching
from postoffice.proto.imap.grammar import parse_command
from postoffice.storage import open_store
from postoffice.storage.interfaces import Store
from postoffice.storage.mailboxes import NewMessage

ALICE = "alice@example.org"
SENDERS = ('"Bob Smith" <bob@example.com>', "=?utf-8?q?J=C3=BCrgen?= <jurgen@example.de>",
           "carol@EXAMPLE.net", "undisclosed-recipients:;", "(comment) dave@x.org")
SUBJECTS = ("Budget review", "=?utf-8?b?w4RwZmVs?= budget", "lunch", "", "RE: Budget")
FLAGS = ((), ("\\Seen",), ("\\Seen", "\\Flagged"), ("$Work",), ("\\Deleted", "$work"))
KEYS = ["UNSEEN", "SEEN", "FLAGGED UNSEEN", "NOT SEEN", "KEYWORD $WORK", "UNKEYWORD $Work",
        "RECENT", "NEW", "OLD", "ALL", "DELETED", "FROM bob", "FROM BOB@EXAMPLE.COM",
        "FROM \"jürgen\"", "FROM jurgen@example.de", "FROM example", "FROM dave", "FROM comment",
        "SUBJECT budget", "SUBJECT \"äpfel\"", "SUBJECT \"\"", "TO alice", "CC x", "BCC nobody",
        "NOT FROM bob", "OR FROM bob SUBJECT lunch", "UNSEEN SUBJECT budget",
        "NOT (FROM carol UNSEEN)", "OR SEEN NOT SUBJECT re:", "FROM \"Bob Smith\"",
        "FROM \"smith <bob\"", "SUBJECT budget FROM example KEYWORD $work", "TO \"\"",
        "SINCE 5-Mar-2026", "BEFORE 5-Mar-2026", "ON 3-Mar-2026", "SINCE 1-Jan-2020",
        "LARGER 150", "SMALLER 150", "NOT SINCE 8-Mar-2026 UNSEEN", "OR ON 2-Mar-2026 FROM bob",
        "SUBJECT budget LARGER 100 BEFORE 10-Mar-2026"]
DAY_ONE = 1_772_366_400.0
"""2026-03-01 12:00 UTC: message i arrived i half-days later."""


def _message(i: int) -> bytes:
    cc = "Cc: x@example.org\r\n" if i % 4 == 0 else ""
    subject = f"Subject: {SUBJECTS[i % len(SUBJECTS)]}\r\n" if i % 7 else ""
    return (f"From: {SENDERS[i % len(SENDERS)]}\r\nTo: alice@example.org\r\n{cc}{subject}"
            f"Date: 01 Mar 2026 10:00:00 +0000\r\n\r\nbody {i}\r\n").encode()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(tmp_path)
    opened.add_domain("example.org")
    opened.add_user(ALICE, "x")
    return opened


def _append(store: Store, first: int, count: int) -> None:
    messages = []
    for i in range(first, first + count):
        writer = store.blobs.writer()
        writer.write(_message(i))
        messages.append(NewMessage(writer.finish(), FLAGS[i % len(FLAGS)],
                                   DAY_ONE + i * 43_200))
    store.append_messages(ALICE, "INBOX", messages)


def _run(service: ImapService, store: Store, text: str) -> c.Command:
    command = parse_command(b"t " + text.encode(), True, 50)
    assert isinstance(command, c.Command), command
    service.execute(store, command, frozenset({"UTF8=ACCEPT"}))
    return command


def _compare(service: ImapService, store: Store) -> None:
    view = service.selected
    assert view is not None
    for text in KEYS:
        command = parse_command(b"t SEARCH " + text.encode(), True, 50)
        assert isinstance(command.arguments, c.Search)
        key = command.arguments.key
        service._current = store
        slow = [m.seq - 1 for m in service._matches(key)]
        quick = quick_search.search(key, view, store, service.cache, service.zone)
        assert quick == slow, text
        assert quick_search.ready(key, view)
        assert quick_search.search(key, view, None, service.cache, service.zone) == slow, text


def test_quick_search_answers_as_the_full_search(store: Store) -> None:
    _append(store, 0, 40)
    for zone in (UTC, timezone(timedelta(hours=-11))):  # days begin at other times
        service = ImapService(ALICE, zone=zone)
        _run(service, store, "SELECT INBOX")
        _compare(service, store)
    # others change flags, expunge (held back: rows gone, uids still shown) and append
    inbox = store.get_folder(ALICE, "INBOX")
    assert inbox is not None
    store.store_flags(inbox.id, [1, 2, 3], "add", ["\\Seen", "$Work"])
    store.store_flags(inbox.id, [5, 6], "add", ["\\Deleted"])
    store.expunge(inbox.id, [5, 6])
    _append(store, 40, 5)
    _run(service, store, "FETCH 1 FLAGS")  # flag news, no expunges yet
    view = service.selected
    assert view is not None and view.pending_expunge == {5, 6}
    _compare(service, store)
    _run(service, store, "NOOP")
    assert not view.pending_expunge
    _compare(service, store)
    _run(service, store, "STORE 7:9 +FLAGS (\\Seen $Work)")  # the session's own change
    _compare(service, store)


def test_kept_answers_follow_the_sessions_own_changes(store: Store) -> None:
    _append(store, 0, 6)
    service = ImapService(ALICE)
    _run(service, store, "SELECT INBOX")

    def answer(text: str) -> bytes:
        command = parse_command(b"t " + text.encode(), True, 50)
        assert isinstance(command, c.Command)
        return service.execute(store, command, frozenset()).data

    before = answer("FETCH 1:* FLAGS")
    assert answer("FETCH 1:* FLAGS") == before
    assert answer("SEARCH UNSEEN").startswith(b"* SEARCH 1 4 5 6\r\n")
    answer("STORE 1 +FLAGS.SILENT (\\Seen)")
    assert answer("SEARCH UNSEEN").startswith(b"* SEARCH 4 5 6\r\n")
    after = answer("FETCH 1:* FLAGS")
    assert after != before and b"* 1 FETCH (FLAGS (\\Seen \\Recent))" in after


def test_columns_are_rebuilt_when_the_message_list_changes(store: Store) -> None:
    _append(store, 0, 10)
    service = ImapService(ALICE)
    _run(service, store, "SELECT INBOX")
    view = service.selected
    assert view is not None
    key = matching_key("FROM bob")
    assert not quick_search.ready(key, view)
    assert quick_search.search(key, view, None, service.cache) is None
    first = quick_search.search(key, view, store, service.cache)
    assert quick_search.ready(key, view)
    _append(store, 10, 5)
    _run(service, store, "NOOP")
    assert not quick_search.ready(key, view)
    assert quick_search.search(key, view, store, service.cache) == [*(first or []), 10]


def test_keys_it_does_not_answer(store: Store) -> None:
    _append(store, 0, 3)
    service = ImapService(ALICE)
    _run(service, store, "SELECT INBOX")
    view = service.selected
    assert view is not None
    for text in ("1:2 UNSEEN", "BODY x", "YOUNGER 100", "HEADER x y", "MODSEQ 1", "UID 1",
                 "TEXT x", "SENTON 1-Mar-2026", "OR FROM x BODY y", "SINCE 1-Mar-2026 TEXT x"):
        key = matching_key(text)
        assert quick_search.fields(key) is None, text
        assert quick_search.search(key, view, store, service.cache) is None


def matching_key(text: str) -> matching.SearchKey:
    command = parse_command(b"t SEARCH " + text.encode(), True, 50)
    assert isinstance(command.arguments, c.Search)
    return command.arguments.key
