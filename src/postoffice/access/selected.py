"""The selected folder as one IMAP session sees it: sequence numbers, flags, modseqs, and the
changes other sessions made that it still has to report (RFC 9051 5.2, 7.5.1).

Sequence numbers are positions in `uids` (ascending). Expunges by others are held back until
the session may report them (never during non-UID FETCH, STORE or SEARCH): until then the
message keeps its number.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from postoffice.proto.imap import responses as r
from postoffice.proto.imap.matching import compact_set
from postoffice.proto.imap.values import SequenceSet
from postoffice.storage import Store
from postoffice.storage.blobs import BlobLocation
from postoffice.storage.interfaces import Folder
from postoffice.storage.mailboxes import FolderIndex, MessageRow

NEIGHBOURS = 256
"""Rows read along with a few missing ones (see Selected.rows)."""
KEPT_ANSWERS = 16
"""Answers a session keeps (the last few distinct SEARCH keys and flag FETCHes)."""


class Selected:
    def __init__(self, index: FolderIndex, read_only: bool, recent: range) -> None:
        self.folder: Folder = index.folder
        self.read_only = read_only
        self.uids = index.uids
        self.flags = index.flags
        """Space-separated, as stored; parallel to uids."""
        self.modseqs = index.modseqs
        self.recent = set(self.uids[bisect_left(self.uids, recent.start):
                                    bisect_left(self.uids, recent.stop)])
        self.known_modseq = index.folder.highestmodseq
        self.uidnext = index.folder.uidnext
        self.pending_expunge: set[int] = set()
        self.saved: tuple[int, ...] = ()
        """SEARCHRES: uids of the last SEARCH ... RETURN (SAVE)."""
        self._rows: dict[int, MessageRow] = {}
        """Rows read so far: a uid's size, date and blob never change (flags live above)."""
        self.locations: dict[str, BlobLocation] = {}
        """Where the blobs of those rows are, for reads on the event loop
        (access/memory_reads.py)."""
        self.generation = 0
        """Counts the changes of `uids` (expunges reported, messages added)."""
        self.version = 0
        """Counts every change of uids, flags, modseqs or \\Recent: answers computed from
        them alone may be kept for as long as it stays (`kept`, `keep`)."""
        self._kept: dict[object, tuple[int, Any]] = {}
        self._columns: dict[str, tuple[int, list[Any]]] = {}
        """Per-message search columns (access/quick_search.py), by name, with the
        generation they were built for."""

    @property
    def id(self) -> int:
        return self.folder.id

    @property
    def exists(self) -> int:
        return len(self.uids)

    def position(self, uid: int) -> int | None:
        """0-based index of `uid`, or None."""
        i = bisect_left(self.uids, uid)
        return i if i < len(self.uids) and self.uids[i] == uid else None

    def column(self, name: str) -> list[Any] | None:
        """A search column kept for the current message list, or None."""
        kept = self._columns.get(name)
        return kept[1] if kept is not None and kept[0] == self.generation else None

    def keep_column(self, name: str, column: list[Any]) -> None:
        self._columns[name] = (self.generation, column)

    def kept(self, key: object) -> Any:
        """An answer kept under `key` at the current `version`, or None."""
        found = self._kept.get(key)
        return found[1] if found is not None and found[0] == self.version else None

    def keep(self, key: object, answer: object) -> None:
        if len(self._kept) >= KEPT_ANSWERS:
            self._kept.clear()
        self._kept[key] = (self.version, answer)

    def flag_tuple(self, i: int) -> tuple[str, ...]:
        return tuple(self.flags[i].split())

    # -- sets ----------------------------------------------------------------------------------

    def resolve(self, sequence: SequenceSet, uid: bool) -> list[int]:
        """0-based indexes of the messages a set names, ascending. For UID sets, `*` is the
        highest uid in use and ranges need not exist (RFC 9051 6.4.9); for sequence sets a
        number beyond EXISTS is an error (ValueError)."""
        if sequence.saved:
            return [i for u in self.saved if (i := self.position(u)) is not None]
        if not self.uids:
            if not uid and sequence.ranges:
                raise ValueError("no messages")
            return []
        if len(sequence.ranges) == 1:  # one range (1:*, a single number): no set to sort
            low, high = sequence.ranges[0]
            if uid:
                largest = self.uids[-1]
                a, b = sorted((largest if low is None else low, largest if high is None else high))
                return list(range(bisect_left(self.uids, a), bisect_left(self.uids, b + 1)))
            largest = len(self.uids)
            a, b = sorted((largest if low is None else low, largest if high is None else high))
            if b > largest or a < 1:
                raise ValueError("sequence number out of range")
            return list(range(a - 1, b))
        picked: set[int] = set()
        if uid:
            largest = self.uids[-1]
            for low, high in sequence.ranges:
                a, b = sorted((largest if low is None else low, largest if high is None else high))
                start = bisect_left(self.uids, a)
                end = bisect_left(self.uids, b + 1)
                picked.update(range(start, end))
        else:
            largest = len(self.uids)
            for low, high in sequence.ranges:
                a, b = sorted((largest if low is None else low, largest if high is None else high))
                if b > largest or a < 1:
                    raise ValueError("sequence number out of range")
                picked.update(range(a - 1, b))
        return sorted(picked)

    def rows(self, store: Store, uids: Sequence[int]) -> dict[int, MessageRow]:
        """The stored rows of these uids that still exist (size, date, blob: read once), with
        their blobs' locations. A client opening messages one by one gets the rows around
        them read too, so that its next ones are answered from memory."""
        missing = [u for u in uids if u not in self._rows]
        if missing:
            if len(missing) < NEIGHBOURS:
                start = max(0, bisect_left(self.uids, missing[0]) - NEIGHBOURS // 2)
                missing = sorted({*missing, *(u for u in self.uids[start:start + NEIGHBOURS]
                                              if u not in self._rows)})
            found = store.messages_by_uid(self.id, missing)
            self._rows.update((row.uid, row) for row in found)
            self.locations.update(store.blob_locations([row.blob for row in found]))
        return {u: self._rows[u] for u in uids if u in self._rows}

    # -- changes ---------------------------------------------------------------------------------

    def apply_own(self, rows: Iterable[MessageRow]) -> None:
        """Flag changes this session made (so a refresh does not report them again)."""
        self.version += 1
        for row in rows:
            i = self.position(row.uid)
            if i is not None:
                self.flags[i] = " ".join(row.flags)
                self.modseqs[i] = row.modseq

    def remove(self, uids: Sequence[int], qresync: bool) -> bytes:
        """Report and forget expunged messages: EXPUNGE per message, or one VANISHED."""
        out = bytearray()
        gone = sorted({u for u in uids if self.position(u) is not None}, reverse=True)
        if gone:
            self.generation += 1
            self.version += 1
        if qresync and gone:
            out += r.untagged(r.Atom("VANISHED"), r.Atom(compact_set(gone)))
        for uid in gone:
            i = self.position(uid)
            assert i is not None
            if not qresync:
                out += b"* %d EXPUNGE\r\n" % (i + 1)
            del self.uids[i], self.flags[i], self.modseqs[i]
            self._rows.pop(uid, None)
            self.recent.discard(uid)
            self.pending_expunge.discard(uid)
        return bytes(out)

    def refresh(self, store: Store, *, allow_expunge: bool, condstore: bool, qresync: bool,
                rev1: bool, uid_fetch: bool = False) -> bytes:
        """Untagged responses for what others changed since the last look."""
        changes = store.folder_changes(self.id, self.known_modseq)
        out = bytearray()
        self.pending_expunge.update(u for u in changes.vanished if self.position(u) is not None)
        if allow_expunge and self.pending_expunge:
            out += self.remove(sorted(self.pending_expunge), qresync)
        last = self.uids[-1] if self.uids else 0
        if changes.changed:
            self.version += 1
        added = [row for row in changes.changed if row.uid > last]
        for row in changes.changed:
            if row.uid > last:
                continue
            i = self.position(row.uid)
            if i is None or row.uid in self.pending_expunge:
                continue
            flags = " ".join(row.flags)
            if flags == self.flags[i] and row.modseq == self.modseqs[i]:
                continue
            changed_flags = flags != self.flags[i]
            self.flags[i], self.modseqs[i] = flags, row.modseq
            if changed_flags or condstore:
                out += self.fetch_flags_line(i, uid=uid_fetch or qresync, modseq=condstore,
                                             rev1=rev1)
        if added:
            self.generation += 1
            for row in added:
                self.uids.append(row.uid)
                self.flags.append(" ".join(row.flags))
                self.modseqs.append(row.modseq)
            if not self.read_only:
                low, high = store.claim_recent(self.id)
                self.recent.update(u for u in range(low, high) if self.position(u) is not None)
            out += b"* %d EXISTS\r\n" % len(self.uids)
            if rev1:
                out += b"* %d RECENT\r\n" % len(self.recent)
        self.known_modseq = max(self.known_modseq, changes.folder.highestmodseq)
        self.uidnext = changes.folder.uidnext
        return bytes(out)

    def fetch_flags_line(self, i: int, *, uid: bool, modseq: bool, rev1: bool) -> bytes:
        items: list[bytes] = []
        if uid:
            items.append(b"UID %d" % self.uids[i])
        items.append(b"FLAGS " + self.flag_list(i, rev1))
        if modseq:
            items.append(b"MODSEQ (%d)" % self.modseqs[i])
        return b"* %d FETCH (%s)\r\n" % (i + 1, b" ".join(items))

    def flag_list(self, i: int, rev1: bool) -> bytes:
        flags = self.flags[i]
        if rev1 and self.uids[i] in self.recent:
            flags = (flags + " \\Recent").strip()
        return b"(" + flags.encode("utf-8") + b")"



def vanished_earlier(uids: Sequence[int]) -> bytes:
    """QRESYNC's report of uids expunged before this session looked (RFC 7162 3.2.10)."""
    return b"* VANISHED (EARLIER) " + compact_set(uids).encode() + b"\r\n" if uids else b""
