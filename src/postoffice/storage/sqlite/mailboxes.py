"""Folders and their messages in SQL (see storage/mailboxes.py for the contract).

Every function runs on the caller's connection; those that write expect to be inside the
caller's transaction (SqliteStore wraps them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeVar

from postoffice.storage.interfaces import AlreadyExists, Folder, InUse, NotFound
from postoffice.storage.mailboxes import (
    SEPARATOR,
    FlagMode,
    FlagUpdate,
    FolderChanges,
    FolderIndex,
    FolderStatus,
    MessageRow,
    QuotaExceeded,
)

T = TypeVar("T")
FOLDER_COLUMNS: Final = "id, name, uidvalidity, uidnext, special_use, highestmodseq, selectable"
ROW_COLUMNS: Final = "uid, flags, modseq, size, internal_date, blob, message_id"
IN_CHUNK: Final = 500
"""Values per `IN (...)` list (SQLite's default limit on variables is 999 in old builds)."""
MAX_NAME: Final = 512
"""Octets (UTF-8) of a folder name; deeper limits are the IMAP layer's."""


def in_chunks(values: Sequence[T]) -> Iterator[tuple[list[T], str]]:
    """`values` in slices small enough for one statement, each with its "?,?,..." marks."""
    for start in range(0, len(values), IN_CHUNK):
        chunk = list(values[start:start + IN_CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def folder(row: tuple[Any, ...]) -> Folder:
    id_, name, uidvalidity, uidnext, special_use, modseq, selectable = row
    return Folder(name, uidvalidity, uidnext, special_use, id_, modseq, bool(selectable))


def message_row(row: tuple[Any, ...]) -> MessageRow:
    uid, flags, modseq, size, internal_date, blob, message_id = row
    return MessageRow(uid, tuple(flags.split()), modseq, size, internal_date, blob, message_id)


def check_name(name: str) -> str:
    """A folder name as stored: INBOX in any case is INBOX; a trailing separator is dropped."""
    name = name.removesuffix(SEPARATOR)
    if not name or len(name.encode("utf-8")) > MAX_NAME:
        raise ValueError("bad folder name")
    parts = name.split(SEPARATOR)
    if any(not part for part in parts) or any(c in name for c in "*%\r\n\0"):
        raise ValueError(f"bad folder name {name!r}")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return SEPARATOR.join(parts)


def get_folder(db: sqlite3.Connection, user_id: int, name: str) -> Folder | None:
    row = db.execute(f"SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = ? AND name = ?",
                     (user_id, name)).fetchone()
    return None if row is None else folder(row)


def folder_by_id(db: sqlite3.Connection, folder_id: int) -> Folder:
    row = db.execute(f"SELECT {FOLDER_COLUMNS} FROM folders WHERE id = ?",
                     (folder_id,)).fetchone()
    if row is None:
        raise NotFound("the folder no longer exists")
    return folder(row)


def list_folders(db: sqlite3.Connection, user_id: int) -> list[Folder]:
    rows = db.execute(f"SELECT {FOLDER_COLUMNS} FROM folders WHERE user_id = ? ORDER BY id",
                      (user_id,))
    return [folder(row) for row in rows]


def create_folder(db: sqlite3.Connection, user_id: int, name: str, special_use: str | None,
                  uidvalidity: Callable[[], int]) -> Folder:
    name = check_name(name)
    parts = name.split(SEPARATOR)
    for depth in range(1, len(parts) + 1):
        path = SEPARATOR.join(parts[:depth])
        existing = get_folder(db, user_id, path)
        last = depth == len(parts)
        if existing is not None and existing.selectable:
            if last:
                raise AlreadyExists(f"folder {path} exists already")
            continue
        if existing is not None:  # a \Noselect name becomes a folder again
            db.execute("UPDATE folders SET selectable = 1, uidvalidity = ?, uidnext = 1,"
                       " recent_uid = 1 WHERE id = ?", (uidvalidity(), existing.id))
        else:
            db.execute("INSERT INTO folders (user_id, name, uidvalidity, special_use)"
                       " VALUES (?, ?, ?, ?)",
                       (user_id, path, uidvalidity(), special_use if last else None))
    created = get_folder(db, user_id, name)
    assert created is not None
    return created


def _children(db: sqlite3.Connection, user_id: int, name: str) -> int:
    row = db.execute("SELECT COUNT(*) FROM folders WHERE user_id = ? AND substr(name, 1, ?) = ?",
                     (user_id, len(name) + 1, name + SEPARATOR)).fetchone()
    return int(row[0])


def delete_folder(db: sqlite3.Connection, user_id: int, name: str) -> None:
    found = get_folder(db, user_id, check_name(name))
    if found is None:
        raise NotFound(f"no folder {name}")
    if found.name == "INBOX":
        raise InUse("INBOX cannot be deleted")
    children = _children(db, user_id, found.name)
    if children and not found.selectable:
        raise InUse(f"{found.name} has children")
    _remove_size(db, user_id, "folder_id = ?", (found.id,))
    if children:
        db.execute("DELETE FROM mailbox_messages WHERE folder_id = ?", (found.id,))
        db.execute("DELETE FROM expunged WHERE folder_id = ?", (found.id,))
        db.execute("UPDATE folders SET selectable = 0 WHERE id = ?", (found.id,))
    else:
        db.execute("DELETE FROM folders WHERE id = ?", (found.id,))


def rename_folder(db: sqlite3.Connection, user_id: int, old: str, new: str,
                  uidvalidity: Callable[[], int]) -> None:
    old, new = check_name(old), check_name(new)
    source = get_folder(db, user_id, old)
    if source is None or not source.selectable and not _children(db, user_id, old):
        raise NotFound(f"no folder {old}")
    if get_folder(db, user_id, new) is not None:
        raise AlreadyExists(f"folder {new} exists already")
    if new.startswith(old + SEPARATOR) or new == old:
        raise InUse("a folder cannot be moved into itself")
    parent = new.rpartition(SEPARATOR)[0]
    if parent and get_folder(db, user_id, parent) is None:
        create_folder(db, user_id, parent, None, uidvalidity)
    if old == "INBOX":
        target = create_folder(db, user_id, new, None, uidvalidity)
        uids = [r[0] for r in db.execute(
            "SELECT uid FROM mailbox_messages WHERE folder_id = ? ORDER BY uid", (source.id,))]
        if uids:
            move_rows(db, source.id, uids, target.id)
        return
    db.execute("UPDATE folders SET name = ? || substr(name, ?) WHERE user_id = ?"
               " AND (name = ? OR substr(name, 1, ?) = ?)",
               (new, len(old) + 1, user_id, old, len(old) + 1, old + SEPARATOR))


def subscriptions(db: sqlite3.Connection, user_id: int) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT name FROM subscriptions WHERE user_id = ? ORDER BY name", (user_id,))]


def set_subscribed(db: sqlite3.Connection, user_id: int, name: str, on: bool) -> None:
    name = check_name(name)
    if on:
        db.execute("INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?, ?)",
                   (user_id, name))
    else:
        db.execute("DELETE FROM subscriptions WHERE user_id = ? AND name = ?", (user_id, name))


def folder_status(db: sqlite3.Connection, folder_id: int) -> FolderStatus:
    found = folder_by_id(db, folder_id)
    recent_uid = db.execute("SELECT recent_uid FROM folders WHERE id = ?",
                            (folder_id,)).fetchone()[0]
    messages = unseen = recent = deleted = size = 0
    for uid, flags, octets in db.execute(
            "SELECT uid, flags, size FROM mailbox_messages WHERE folder_id = ?", (folder_id,)):
        messages += 1
        size += octets
        if "\\Seen" not in flags:
            unseen += 1
        if "\\Deleted" in flags:
            deleted += 1
        if uid >= recent_uid:
            recent += 1
    return FolderStatus(found, messages, unseen, recent, deleted, size)


def folder_messages(db: sqlite3.Connection, folder_id: int) -> list[MessageRow]:
    rows = db.execute(f"SELECT {ROW_COLUMNS} FROM mailbox_messages WHERE folder_id = ?"
                      " ORDER BY uid", (folder_id,))
    return [message_row(row) for row in rows]


def folder_index(db: sqlite3.Connection, folder_id: int) -> FolderIndex:
    found = folder_by_id(db, folder_id)
    rows = db.execute("SELECT uid, flags, modseq FROM mailbox_messages WHERE folder_id = ?"
                      " ORDER BY uid", (folder_id,)).fetchall()
    return FolderIndex(found, [row[0] for row in rows], [row[1] for row in rows],
                       [row[2] for row in rows])


def messages_by_uid(db: sqlite3.Connection, folder_id: int,
                    uids: Sequence[int]) -> list[MessageRow]:
    return [message_row(row) for row in _rows_by_uid(db, folder_id, uids)]


def folder_changes(db: sqlite3.Connection, folder_id: int, since: int) -> FolderChanges:
    found = folder_by_id(db, folder_id)
    if since >= found.highestmodseq:
        return FolderChanges(found, (), ())
    changed = db.execute(f"SELECT {ROW_COLUMNS} FROM mailbox_messages WHERE folder_id = ?"
                         " AND modseq > ? ORDER BY uid", (folder_id, since))
    vanished = db.execute("SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ?"
                          " ORDER BY uid", (folder_id, since))
    return FolderChanges(found, tuple(message_row(r) for r in changed),
                         tuple(r[0] for r in vanished))


def folder_heads(db: sqlite3.Connection, folder_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    heads: dict[int, tuple[int, int]] = {}
    for chunk, marks in in_chunks(folder_ids):
        for id_, uidnext, modseq in db.execute(
                f"SELECT id, uidnext, highestmodseq FROM folders WHERE id IN ({marks})", chunk):
            heads[id_] = (uidnext, modseq)
    return heads


def claim_recent(db: sqlite3.Connection, folder_id: int, claim: bool) -> tuple[int, int]:
    row = db.execute("SELECT recent_uid, uidnext FROM folders WHERE id = ?",
                     (folder_id,)).fetchone()
    if row is None:
        raise NotFound("the folder no longer exists")
    low, high = row
    if claim and high > low:
        db.execute("UPDATE folders SET recent_uid = ? WHERE id = ?", (high, folder_id))
    return low, high


def allocate(db: sqlite3.Connection, folder_id: int, count: int) -> tuple[int, int]:
    """Reserve `count` uids and modseqs; the first of each."""
    row = db.execute("UPDATE folders SET uidnext = uidnext + ?1,"
                     " highestmodseq = highestmodseq + ?1 WHERE id = ?2"
                     " RETURNING uidnext, highestmodseq", (count, folder_id)).fetchone()
    if row is None:
        raise NotFound("the folder no longer exists")
    return row[0] - count, row[1] - count + 1


def next_modseq(db: sqlite3.Connection, folder_id: int) -> int:
    row = db.execute("UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = ?"
                     " RETURNING highestmodseq", (folder_id,)).fetchone()
    if row is None:
        raise NotFound("the folder no longer exists")
    return int(row[0])


def insert_rows(db: sqlite3.Connection, user_id: int, folder_id: int,
                rows: Sequence[tuple[str, str, int, tuple[str, ...], float]]) -> list[int]:
    """Add (message id, blob, size, flags, internal date) rows; their uids."""
    added = sum(row[2] for row in rows)
    _add_size(db, user_id, added)
    first_uid, first_modseq = allocate(db, folder_id, len(rows))
    db.executemany(
        "INSERT INTO mailbox_messages (folder_id, uid, message_id, blob, size, flags,"
        " internal_date, modseq) VALUES (?,?,?,?,?,?,?,?)",
        [(folder_id, first_uid + i, message_id, blob, size, " ".join(flags), date,
          first_modseq + i) for i, (message_id, blob, size, flags, date) in enumerate(rows)])
    return list(range(first_uid, first_uid + len(rows)))


def _add_size(db: sqlite3.Connection, user_id: int, added: int) -> None:
    """Count `added` octets against the user; QuotaExceeded past their quota."""
    row = db.execute("UPDATE users SET used_bytes = used_bytes + ? WHERE id = ?"
                     " RETURNING used_bytes, quota_bytes", (added, user_id)).fetchone()
    if row is None:
        raise NotFound("no such user")
    used, limit = row
    if added > 0 and limit is not None and used > limit:
        raise QuotaExceeded(f"over quota ({used - added} of {limit} octets used)")


def _remove_size(db: sqlite3.Connection, user_id: int, where: str,
                 params: tuple[Any, ...]) -> None:
    row = db.execute(f"SELECT COALESCE(SUM(size), 0) FROM mailbox_messages WHERE {where}",
                     params).fetchone()
    db.execute("UPDATE users SET used_bytes = MAX(0, used_bytes - ?) WHERE id = ?",
               (row[0], user_id))


def user_of_folder(db: sqlite3.Connection, folder_id: int) -> int:
    row = db.execute("SELECT user_id FROM folders WHERE id = ?", (folder_id,)).fetchone()
    if row is None:
        raise NotFound("the folder no longer exists")
    return int(row[0])


def _rows_by_uid(db: sqlite3.Connection, folder_id: int,
                 uids: Sequence[int]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if len(uids) > 2000:  # most of a folder: one scan beats many lookups
        wanted = set(uids)
        return [row for row in db.execute(
            f"SELECT {ROW_COLUMNS} FROM mailbox_messages WHERE folder_id = ? ORDER BY uid",
            (folder_id,)) if row[0] in wanted]
    for chunk, marks in in_chunks(uids):
        found.extend(db.execute(f"SELECT {ROW_COLUMNS} FROM mailbox_messages"
                                f" WHERE folder_id = ? AND uid IN ({marks})",
                                [folder_id, *chunk]))
    found.sort(key=lambda row: int(row[0]))
    return found


def _same_flag(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def apply_flags(current: Sequence[str], mode: FlagMode, flags: Sequence[str]) -> tuple[str, ...]:
    """New flag list: keywords compare case-insensitively; the first spelling stays."""
    if mode == "replace":
        result: list[str] = []
        base: Sequence[str] = flags
    elif mode == "add":
        result, base = list(current), flags
    else:
        return tuple(f for f in current if not any(_same_flag(f, g) for g in flags))
    for flag in base:
        if not any(_same_flag(flag, f) for f in result):
            result.append(flag)
    return tuple(result)


def store_flags(db: sqlite3.Connection, folder_id: int, uids: Sequence[int], mode: FlagMode,
                flags: Sequence[str], unchanged_since: int | None) -> FlagUpdate:
    changed: list[MessageRow] = []
    refused: list[int] = []
    updates: list[tuple[str, int, int]] = []
    modseq: int | None = None
    for row in map(message_row, _rows_by_uid(db, folder_id, uids)):
        if unchanged_since is not None and row.modseq > unchanged_since:
            refused.append(row.uid)
            continue
        new = apply_flags(row.flags, mode, flags)
        if set(new) == set(row.flags) and unchanged_since is None:
            continue
        if modseq is None:
            modseq = next_modseq(db, folder_id)
        else:
            modseq += 1
        updates.append((" ".join(new), modseq, row.uid))
        changed.append(MessageRow(row.uid, new, modseq, row.size, row.internal_date, row.blob,
                                  row.message_id))
    if updates:
        db.executemany("UPDATE mailbox_messages SET flags = ?, modseq = ?"
                       " WHERE folder_id = ? AND uid = ?",
                       [(f, m, folder_id, u) for f, m, u in updates])
        db.execute("UPDATE folders SET highestmodseq = ? WHERE id = ?", (modseq, folder_id))
    return FlagUpdate(tuple(changed), tuple(refused))


def copy_rows(db: sqlite3.Connection, folder_id: int, uids: Sequence[int],
              target_id: int) -> list[tuple[int, int]]:
    rows = [message_row(r) for r in _rows_by_uid(db, folder_id, uids)]
    if not rows:
        return []
    user_id = user_of_folder(db, target_id)
    new = insert_rows(db, user_id, target_id,
                      [(r.message_id, r.blob, r.size, r.flags, r.internal_date) for r in rows])
    return [(r.uid, uid) for r, uid in zip(rows, new, strict=True)]


def _expunge_rows(db: sqlite3.Connection, folder_id: int, uids: Sequence[int]) -> None:
    if not uids:
        return
    modseq = next_modseq(db, folder_id)
    user_id = user_of_folder(db, folder_id)
    for chunk, marks in in_chunks(uids):
        _remove_size(db, user_id, f"folder_id = ? AND uid IN ({marks})", (folder_id, *chunk))
        db.execute(f"DELETE FROM mailbox_messages WHERE folder_id = ? AND uid IN ({marks})",
                   [folder_id, *chunk])
    db.executemany("INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES (?,?,?)",
                   [(folder_id, uid, modseq) for uid in uids])


def expunge(db: sqlite3.Connection, folder_id: int, uids: Sequence[int] | None) -> list[int]:
    deleted = [uid for uid, flags in db.execute(
        "SELECT uid, flags FROM mailbox_messages WHERE folder_id = ? AND instr(flags, 'Deleted')"
        " ORDER BY uid", (folder_id,)) if "\\Deleted" in flags.split()]
    if uids is not None:
        wanted = set(uids)
        deleted = [uid for uid in deleted if uid in wanted]
    _expunge_rows(db, folder_id, deleted)
    return deleted


def move_rows(db: sqlite3.Connection, folder_id: int, uids: Sequence[int],
              target_id: int) -> list[tuple[int, int]]:
    pairs = copy_rows(db, folder_id, uids, target_id)
    _expunge_rows(db, folder_id, [source for source, _ in pairs])
    return pairs
