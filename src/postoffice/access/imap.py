"""The IMAP mailbox service: what each command does to the store, as response bytes.

One `ImapService` per session, called from a worker thread (the store is synchronous); the
asyncio adapter (server/imap.py) feeds it the commands the connection core (proto/imap/server.py)
hands out and applies the state changes it answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import cast

from postoffice.access import listing, quick_search
from postoffice.access.content import ContentCache, View, summaries
from postoffice.access.fetch import FetchError, fetch, wants_seen
from postoffice.access.index_cache import FolderIndexCache
from postoffice.access.memory_reads import MemoryReads, NotInMemory
from postoffice.access.selected import Selected, vanished_earlier
from postoffice.message.binary import encode_binary_parts
from postoffice.proto.imap import commands as c
from postoffice.proto.imap import matching, sort, thread
from postoffice.proto.imap import responses as r
from postoffice.proto.imap.matching import compact_set
from postoffice.proto.imap.search import And, Criterion, Not, Or, SearchKey
from postoffice.proto.imap.values import SequenceSet
from postoffice.storage import AlreadyExists, InUse, NotFound, StorageError, Store
from postoffice.storage.interfaces import Folder
from postoffice.storage.mailboxes import SEPARATOR, FlagMode, NewMessage, QuotaExceeded

SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_MODES: dict[str, FlagMode] = {"+": "add", "-": "remove", "": "replace"}
_NO_EXPUNGE = {"FETCH", "STORE", "SEARCH"}
_FLAG_ITEMS = {"UID", "FLAGS", "MODSEQ"}
_READ_ONLY = {"FETCH", "SEARCH", "SORT", "THREAD", "NOOP", "CHECK"}
"""Commands that change nothing others could see (FETCH's implicit \\Seen is reported in
its own answer)."""
"""FETCH items answered from the session's index alone."""
"""Non-UID forms of these may not be answered with EXPUNGE (RFC 9051 7.5.1)."""


@dataclass
class Outcome:
    data: bytes
    selected: bool | None = None
    """True: now selected; False: no longer selected; None: unchanged."""
    read_only: bool = False
    idle: bool = False
    """IDLE accepted: the adapter sends the continuation and waits for DONE."""


class ImapService:
    def __init__(self, username: str, *, indexes: FolderIndexCache | None = None,
                 notify: Callable[[int], None] = lambda folder_id: None,
                 zone: tzinfo | None = None) -> None:
        self._current: Store | None = None
        self.user = username
        self.indexes = indexes or FolderIndexCache()
        """Folder indexes kept by the process (shared by its sessions)."""
        self.selected: Selected | None = None
        self.enabled: frozenset[str] = frozenset()
        self.cache = ContentCache()
        self._notify = notify
        self._no_news = False
        """Nothing changed since the last look: no news to look for (see execute)."""
        self.zone = zone or datetime.now().astimezone().tzinfo or UTC

    @property
    def store(self) -> Store:
        """The calling thread's store (each entry point is given it)."""
        assert self._current is not None
        return self._current

    @property
    def rev1(self) -> bool:
        return "IMAP4REV2" not in self.enabled

    @property
    def utf8(self) -> bool:
        return bool(self.enabled & {"IMAP4REV2", "UTF8=ACCEPT"})

    @property
    def condstore(self) -> bool:
        return bool(self.enabled & {"CONDSTORE", "QRESYNC"})

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    # -- entry points ----------------------------------------------------------------------------

    def execute(self, store: Store | None, command: c.Command, enabled: frozenset[str], *,
                current: bool = False) -> Outcome:
        """Run a command on the calling thread's store (None only from answer_from_memory).
        `current`: the caller knows nobody changed the database since this session's last
        look (see answer_from_memory), so a command that only reads skips that look."""
        self._current = store
        self._no_news = current and command.name in _READ_ONLY
        self.enabled = enabled
        handler = getattr(self, "_" + command.name.lower(), None)
        if handler is None:
            return Outcome(r.tagged(command.tag, "BAD", f"{command.name} is not supported"))
        had_condstore = self.condstore
        try:
            outcome: Outcome = handler(command)
        except NotFound as exc:
            outcome = Outcome(self._updates(command) + r.tagged(
                command.tag, "NO", str(exc) or "No such mailbox", "[NONEXISTENT]"))
        except QuotaExceeded as exc:
            outcome = Outcome(r.tagged(command.tag, "NO", str(exc), "[OVERQUOTA]"))
        except FetchError as exc:
            outcome = Outcome(r.tagged(command.tag, "NO", str(exc), exc.code))
        except StorageError as exc:
            outcome = Outcome(r.tagged(command.tag, "NO", f"Try again later: {exc}",
                                       "[UNAVAILABLE]"))
        if self.condstore and not had_condstore and self.selected is not None \
                and command.name not in ("SELECT", "EXAMINE"):
            # RFC 7162 3.1: the first CONDSTORE-enabling command announces HIGHESTMODSEQ
            outcome.data = r.untagged_status(
                "OK", "Highest", f"[HIGHESTMODSEQ {self.selected.known_modseq}]") + outcome.data
        return outcome

    def answer_from_memory(self, command: c.Command, enabled: frozenset[str]) -> Outcome | None:
        """The answer to a command that reads only what the session holds (FETCH of flags,
        SEARCH on flags and kept columns, NOOP), without a store; None for any other.
        Only for a caller that knows nobody changed the database since this session's last
        look at its folder (server/imap.py checks the database's change counter): then
        there is no news to report, and the answer is the one `execute` would give."""
        if not self._memory_answerable(command):
            return None
        if command.name != "FETCH" or self._flags_only(command):
            return self.execute(None, command, enabled, current=True)
        assert self.selected is not None
        reads = MemoryReads(self.selected.locations)
        try:
            return self.execute(cast(Store, reads), command, enabled, current=True)
        except NotInMemory:
            return None

    def _memory_answerable(self, command: c.Command) -> bool:
        view = self.selected
        if view is None or view.pending_expunge:
            return False
        args = command.arguments
        if command.name in ("NOOP", "CHECK"):
            return True
        if command.name == "FETCH" and isinstance(args, c.Fetch):
            # Content too (from memory or the page cache, else NotInMemory), unless the
            # FETCH sets \Seen or first enables CONDSTORE (both write or announce).
            return not args.modifiers and (self._flags_only(command) or (
                (view.read_only or not wants_seen(args.attributes))
                and (self.condstore or all(a.name != "MODSEQ" for a in args.attributes))))
        if command.name == "SEARCH" and isinstance(args, c.Search):
            return quick_search.ready(args.key, view)
        return False

    @staticmethod
    def _flags_only(command: c.Command) -> bool:
        args = command.arguments
        return isinstance(args, c.Fetch) and all(a.name in _FLAG_ITEMS for a in args.attributes)

    def poll(self, store: Store) -> bytes:
        """Untagged news while idling."""
        self._current = store
        if self.selected is None:
            return b""
        return self._refresh(allow_expunge=True)

    def idle_done(self, store: Store, tag: str) -> bytes:
        return self.poll(store) + r.tagged(tag, "OK", "IDLE terminated")

    @property
    def selected_folder(self) -> int | None:
        return None if self.selected is None else self.selected.id

    # -- helpers ---------------------------------------------------------------------------------

    def _ok(self, command: c.Command, text: str, code: str | None = None) -> Outcome:
        return Outcome(self._updates(command) + r.tagged(command.tag, "OK", text, code))

    def _no(self, command: c.Command, text: str, code: str | None = None) -> Outcome:
        return Outcome(self._updates(command) + r.tagged(command.tag, "NO", text, code))

    def _updates(self, command: c.Command) -> bytes:
        if self.selected is None or (self._no_news and not self.selected.pending_expunge):
            return b""
        allow = command.uid or command.name not in _NO_EXPUNGE
        return self._refresh(allow_expunge=allow, uid_fetch=command.uid)

    def _refresh(self, *, allow_expunge: bool, uid_fetch: bool = False) -> bytes:
        assert self.selected is not None
        try:
            return self.selected.refresh(self.store, allow_expunge=allow_expunge,
                                         condstore=self.condstore, qresync=self.qresync,
                                         rev1=self.rev1, uid_fetch=uid_fetch)
        except NotFound:
            return b""

    def _render(self, *items: r.Value) -> bytes:
        return r.untagged(*items, utf8=self.utf8)

    def _folder(self, name: str) -> Folder:
        folder = self.store.get_folder(self.user, name)
        if folder is None:
            raise NotFound(f"No mailbox {name}")
        return folder

    # -- authenticated state -------------------------------------------------------------------

    def _noop(self, command: c.Command) -> Outcome:
        return self._ok(command, f"{command.name} completed")

    _check = _noop

    def _namespace(self, command: c.Command) -> Outcome:
        return self._ok_with(command, b'* NAMESPACE (("" "/")) NIL NIL\r\n', "NAMESPACE completed")

    def _ok_with(self, command: c.Command, data: bytes, text: str,
                 code: str | None = None) -> Outcome:
        return Outcome(data + self._updates(command) + r.tagged(command.tag, "OK", text, code))

    def _select(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Mailbox)
        read_only = command.name == "EXAMINE"
        params = dict(args.parameters)
        self.selected = None
        folder = self.store.get_folder(self.user, args.mailbox)
        if folder is None or not folder.selectable:
            return Outcome(r.tagged(command.tag, "NO", f"No mailbox {args.mailbox}",
                                    "[NONEXISTENT]"), selected=False)
        if "CONDSTORE" in params:
            self.enabled = self.enabled | {"CONDSTORE"}
        store = self.store
        low, high = store.claim_recent(folder.id, claim=not read_only)
        recent = range(low, high)
        view = Selected(self.indexes.index(store, folder.id), read_only, recent)
        self.selected = view
        out = bytearray()
        distinct = set(view.flags)
        keywords = sorted({f for flags in distinct for f in flags.split()
                           if not f.startswith("\\")})
        flags = " ".join([*SYSTEM_FLAGS, *keywords])
        out += f"* FLAGS ({flags})\r\n".encode()
        out += r.untagged_status("OK", "Flags permitted", f"[PERMANENTFLAGS ({flags} \\*)]"
                                 if not read_only else "[PERMANENTFLAGS ()]")
        out += b"* %d EXISTS\r\n" % view.exists
        if self.rev1:
            out += b"* %d RECENT\r\n" % len(view.recent)
            unseen = {f for f in distinct if "\\Seen" not in f.split()}
            first_unseen = next((i + 1 for i, f in enumerate(view.flags) if f in unseen),
                                None) if unseen else None
            if first_unseen is not None:
                out += r.untagged_status("OK", "First unseen", f"[UNSEEN {first_unseen}]")
        out += r.untagged_status("OK", "UIDs valid", f"[UIDVALIDITY {folder.uidvalidity}]")
        out += r.untagged_status("OK", "Predicted next UID", f"[UIDNEXT {view.folder.uidnext}]")
        out += r.untagged_status("OK", "Highest", f"[HIGHESTMODSEQ {view.known_modseq}]")
        if "QRESYNC" in params and self.qresync:
            out += self._qresync(view, params["QRESYNC"])
        code = "[READ-ONLY]" if read_only else "[READ-WRITE]"
        out += r.tagged(command.tag, "OK", f"{command.name} completed", code)
        return Outcome(bytes(out), selected=True, read_only=read_only)

    _examine = _select

    def _qresync(self, view: Selected, value: object) -> bytes:
        if not isinstance(value, tuple) or len(value) < 2:
            return b""
        try:
            uidvalidity, modseq = int(str(value[0])), int(str(value[1]))
        except ValueError:
            return b""
        if uidvalidity != view.folder.uidvalidity:
            return b""
        changes = self.store.folder_changes(view.id, modseq)
        out = bytearray()
        out += vanished_earlier(changes.vanished)
        for row in changes.changed:
            i = view.position(row.uid)
            if i is not None:
                out += view.fetch_flags_line(i, uid=True, modseq=True, rev1=self.rev1)
        return bytes(out)

    def _create(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Mailbox)
        try:
            self.store.create_folder(self.user, args.mailbox)
        except ValueError as exc:
            return self._no(command, str(exc) or "Bad mailbox name", "[CANNOT]")
        except AlreadyExists:
            return self._no(command, "Mailbox exists", "[ALREADYEXISTS]")
        return self._ok(command, "CREATE completed")

    def _delete(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Mailbox)
        try:
            self.store.delete_folder(self.user, args.mailbox)
        except (ValueError, InUse) as exc:
            return self._no(command, str(exc), "[CANNOT]" if isinstance(exc, ValueError)
                            else "[INUSE]")
        return self._ok(command, "DELETE completed")

    def _rename(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Rename)
        try:
            self.store.rename_folder(self.user, args.old, args.new)
        except ValueError as exc:
            return self._no(command, str(exc), "[CANNOT]")
        except AlreadyExists:
            return self._no(command, "Target mailbox exists", "[ALREADYEXISTS]")
        except InUse as exc:
            return self._no(command, str(exc), "[CANNOT]")
        return self._ok(command, "RENAME completed")

    def _subscribe(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Mailbox)
        on = command.name == "SUBSCRIBE"
        try:
            if on and self.store.get_folder(self.user, args.mailbox) is None:
                return self._no(command, f"No mailbox {args.mailbox}", "[NONEXISTENT]")
            self.store.set_subscribed(self.user, args.mailbox, on)
        except ValueError as exc:
            return self._no(command, str(exc), "[CANNOT]")
        return self._ok(command, f"{command.name} completed")

    _unsubscribe = _subscribe

    def _list(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.List)
        lsub = command.name == "LSUB"
        out = bytearray()
        if not lsub and args.patterns == ("",) and not args.selection:
            out += b'* LIST (\\Noselect) "/" ""\r\n'
            return self._ok_with(command, bytes(out), "LIST completed")
        store = self.store
        patterns = [listing.join(args.reference, p) for p in args.patterns]
        returns = set(args.returns)
        entries = listing.entries(
            store.list_folders(self.user), store.subscriptions(self.user), patterns,
            lsub=lsub, only_subscribed="SUBSCRIBED" in args.selection,
            recursive="RECURSIVEMATCH" in args.selection,
            only_special="SPECIAL-USE" in args.selection,
            show_subscribed="SUBSCRIBED" in returns,
            show_special=not args.extended or "SPECIAL-USE" in returns
            or "SPECIAL-USE" in args.selection or not args.returns)
        word = r.Atom("LSUB" if lsub else "LIST")
        for entry in entries:
            items: list[r.Value] = [word, tuple(r.Atom(a) for a in entry.attributes),
                                    SEPARATOR, r.Mailbox(entry.name)]
            if entry.child_info:
                items.append((r.Atom("CHILDINFO"), (r.Atom('"SUBSCRIBED"'),)))
            out += self._render(*items)
            if args.status_items and entry.folder is not None and entry.folder.selectable:
                out += self._status_line(entry.folder, args.status_items)
        return self._ok_with(command, bytes(out), f"{command.name} completed")

    _lsub = _list

    def _status(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Status)
        folder = self._folder(args.mailbox)
        if not folder.selectable:
            return self._no(command, "Mailbox cannot be selected", "[NONEXISTENT]")
        return self._ok_with(command, self._status_line(folder, args.items), "STATUS completed")

    def _status_line(self, folder: Folder, items: Sequence[str]) -> bytes:
        status = self.store.folder_status(folder.id)
        values = {"MESSAGES": status.messages, "UIDNEXT": status.folder.uidnext,
                  "UIDVALIDITY": status.folder.uidvalidity, "UNSEEN": status.unseen,
                  "RECENT": status.recent, "SIZE": status.size, "DELETED": status.deleted,
                  "HIGHESTMODSEQ": status.folder.highestmodseq}
        pairs: list[r.Value] = []
        for item in items:
            if item in values:
                pairs += [r.Atom(item), values[item]]
        return self._render(r.Atom("STATUS"), r.Mailbox(folder.name), pairs)

    def _append(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Append)
        store = self.store
        folder = store.get_folder(self.user, args.mailbox)
        if folder is None or not folder.selectable:
            return self._no(command, f"No mailbox {args.mailbox}", "[TRYCREATE]")
        messages = []
        for message in args.messages:
            if not message.data:
                return self._no(command, "Empty message")
            writer = store.blobs.writer()
            # A literal8 may carry binary parts: stored base64-encoded (RFC 3516 4.4).
            writer.write(encode_binary_parts(message.data) if message.binary else message.data)
            when = message.date_time.timestamp() if message.date_time else time.time()
            flags = tuple(f for f in message.flags if f != "\\Recent")
            messages.append(NewMessage(writer.finish(), flags, when))
        after, uids = store.append_messages(self.user, folder.name, messages)
        self._notify(folder.id)
        code = f"[APPENDUID {after.uidvalidity} {compact_set(uids)}]"
        return self._ok(command, "APPEND completed", code)

    def _idle(self, command: c.Command) -> Outcome:
        return Outcome(self._updates(command), idle=True)

    def _getquota(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Quota)
        if args.root != "":
            return self._no(command, "No such quota root", "[NONEXISTENT]")
        return self._ok_with(command, self._quota_line(), "GETQUOTA completed")

    def _quota_line(self) -> bytes:
        quota = self.store.quota(self.user)
        if quota.limit is None:
            return b'* QUOTA "" ()\r\n'
        return b'* QUOTA "" (STORAGE %d %d)\r\n' % ((quota.used + 1023) // 1024,
                                                    quota.limit // 1024)

    def _getquotaroot(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Mailbox)
        self._folder(args.mailbox)
        data = self._render(r.Atom("QUOTAROOT"), r.Mailbox(args.mailbox), "")
        return self._ok_with(command, data + self._quota_line(), "GETQUOTAROOT completed")

    def _setquota(self, command: c.Command) -> Outcome:
        return self._no(command, "Quotas are set by the administrator", "[NOPERM]")

    # -- selected state --------------------------------------------------------------------------

    def _view(self) -> Selected:
        assert self.selected is not None
        return self.selected

    def _close(self, command: c.Command) -> Outcome:
        view = self._view()
        if command.name == "CLOSE" and not view.read_only:
            try:
                expunged = self.store.expunge(view.id)
            except NotFound:
                expunged = []
            if expunged:
                self._notify(view.id)
        self.selected = None
        code = "[CLOSED]" if not self.rev1 else None
        return Outcome(r.tagged(command.tag, "OK", f"{command.name} completed", code),
                       selected=False)

    _unselect = _close

    def _expunge(self, command: c.Command) -> Outcome:
        view = self._view()
        if view.read_only:
            return self._no(command, "Mailbox is read-only", "[READ-ONLY]")
        uids = None
        if command.uid:
            assert isinstance(command.arguments, c.Expunge)
            uids = [view.uids[i] for i in view.resolve(command.arguments.sequence, True)]
        expunged = self.store.expunge(view.id, uids)
        out = view.remove(expunged, self.qresync)
        if expunged:
            self._notify(view.id)
        return Outcome(out + self._updates(command) + r.tagged(command.tag, "OK",
                                                               "EXPUNGE completed"))

    def _resolve(self, command: c.Command, sequence: SequenceSet) -> list[int] | Outcome:
        view = self._view()
        try:
            return view.resolve(sequence, command.uid)
        except ValueError:
            return Outcome(r.tagged(command.tag, "BAD", "Invalid message sequence number"))

    def _fetch(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Fetch)
        view = self._view()
        indexes = self._resolve(command, args.sequence)
        if isinstance(indexes, Outcome):
            return indexes
        modifiers = dict(args.modifiers)
        out = bytearray()
        if any(a.name == "MODSEQ" for a in args.attributes):
            self.enabled = self.enabled | {"CONDSTORE"}
        changed_since = modifiers.get("CHANGEDSINCE")
        if changed_since is not None:
            self.enabled = self.enabled | {"CONDSTORE"}
            since = int(str(changed_since))
            if "VANISHED" in modifiers and command.uid and self.qresync:
                largest = view.uids[-1] if view.uids else 0
                vanished = [u for u in self.store.folder_changes(view.id, since).vanished
                            if args.sequence.contains(u, largest)]
                out += vanished_earlier(vanished)
            indexes = [i for i in indexes if view.modseqs[i] > since]
        result = fetch(self._current, self.cache, view, indexes, args.attributes,
                       uid=command.uid, modseq=changed_since is not None, rev1=self.rev1)
        out += result.data
        tail = self._updates(command)
        if result.missing:
            return Outcome(bytes(out) + tail + r.tagged(command.tag, "NO", "Some messages were "
                                                       "expunged", "[EXPUNGEISSUED]"))
        return Outcome(bytes(out) + tail + r.tagged(command.tag, "OK", "FETCH completed"))

    def _store(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Store)
        view = self._view()
        if view.read_only:
            return self._no(command, "Mailbox is read-only", "[READ-ONLY]")
        indexes = self._resolve(command, args.sequence)
        if isinstance(indexes, Outcome):
            return indexes
        modifiers = dict(args.modifiers)
        unchanged = modifiers.get("UNCHANGEDSINCE")
        if unchanged is not None:
            self.enabled = self.enabled | {"CONDSTORE"}
        flags = [f for f in args.flags if f != "\\Recent"]
        mode = _FLAG_MODES[args.mode]
        uids = [view.uids[i] for i in indexes]
        update = self.store.store_flags(view.id, uids, mode, flags,
                                        None if unchanged is None else int(str(unchanged)))
        view.apply_own(update.changed)
        if update.changed:
            self._notify(view.id)
        out = bytearray()
        changed = {row.uid for row in update.changed}
        condstore = self.condstore
        for i in indexes:
            uid = view.uids[i]
            if uid in update.refused:
                continue
            if args.silent and not (condstore and uid in changed):
                continue
            if args.silent:
                out += b"* %d FETCH (%sMODSEQ (%d))\r\n" % (
                    i + 1, b"UID %d " % uid if command.uid else b"", view.modseqs[i])
                continue
            out += view.fetch_flags_line(i, uid=command.uid, modseq=condstore, rev1=self.rev1)
        code = None
        if update.refused:
            refused = update.refused if command.uid else sorted(
                i + 1 for i in indexes if view.uids[i] in set(update.refused))
            code = f"[MODIFIED {compact_set(refused)}]"
        return Outcome(bytes(out) + self._updates(command)
                       + r.tagged(command.tag, "OK", "STORE completed", code))

    def _copy(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Transfer)
        view = self._view()
        indexes = self._resolve(command, args.sequence)
        if isinstance(indexes, Outcome):
            return indexes
        move = command.name == "MOVE"
        if move and view.read_only:
            return self._no(command, "Mailbox is read-only", "[READ-ONLY]")
        target = self.store.get_folder(self.user, args.mailbox)
        if target is None or not target.selectable:
            return self._no(command, f"No mailbox {args.mailbox}", "[TRYCREATE]")
        uids = [view.uids[i] for i in indexes]
        after, pairs = self.store.copy_messages(view.id, uids, target.id, move=move)
        self._notify(target.id)
        code = None
        if pairs:
            code = (f"[COPYUID {after.uidvalidity} {compact_set([s for s, _ in pairs])} "
                    f"{compact_set([d for _, d in pairs])}]")
        if not move:
            return self._ok(command, "COPY completed", code)
        self._notify(view.id)
        out = bytearray()
        if code:
            out += r.untagged_status("OK", "Moved", code)
        out += view.remove([s for s, _ in pairs], self.qresync)
        return Outcome(bytes(out) + self._updates(command)
                       + r.tagged(command.tag, "OK", "MOVE completed"))

    _move = _copy

    # -- search, sort, thread --------------------------------------------------------------------

    def _matches(self, key: SearchKey) -> list[View] | list[FlagView]:
        """The messages `key` matches. A key on flags, uids and modseqs alone is tested on
        one reused view (the common SEARCH UNSEEN of a resync): no rows, no summaries."""
        if matching.cost(key) or _reads_rows(key):
            return matching.search(key, self._views(key), self._context())
        view = self._view()
        predicate = matching.compile_search(key, self._context())
        cursor = FlagView(0, 0, frozenset(), False, 0)
        matched = []
        for i, (uid, flags) in enumerate(zip(view.uids, _flag_sets(view.flags), strict=True)):
            cursor.seq, cursor.uid, cursor.flags = i + 1, uid, flags
            cursor.recent, cursor.modseq = uid in view.recent, view.modseqs[i]
            if predicate(cursor):
                matched.append(FlagView(i + 1, uid, flags, cursor.recent, cursor.modseq))
        return matched

    def _views(self, key: SearchKey | None = None) -> list[View]:
        """A view per message; without `key`, complete (SORT, THREAD); with it, only what
        the key reads (summaries only when it looks at headers or bodies)."""
        view = self._view()
        store = self.store
        flagsets = _flag_sets(view.flags)
        with_fields = key is None or matching.cost(key) > 0
        rows = view.rows(store, view.uids)
        found = summaries(store, self.cache, [row.blob for row in rows.values()]) \
            if with_fields else {}
        views = []
        for i, uid in enumerate(view.uids):
            row = rows.get(uid)
            if row is None:
                continue
            views.append(View(store, self.cache, seq=i + 1, uid=uid, flags=flagsets[i],
                              recent=uid in view.recent, internal_date=row.internal_date,
                              size=row.size, modseq=view.modseqs[i], blob=row.blob,
                              fields=found[row.blob].fields if with_fields else "{}"))
        return views

    def _context(self) -> matching.SearchContext:
        view = self._view()
        return matching.SearchContext(
            largest_seq=view.exists, largest_uid=view.uids[-1] if view.uids else 0,
            now=time.time(), zone=self.zone,
            saved=frozenset(view.saved))

    def _search(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Search)
        view = self._view()
        modseq = None
        positions = quick_search.search(args.key, view, self._current, self.cache,
                                          self.zone)
        if positions is not None:
            uids = [view.uids[i] for i in positions]
            numbers = uids if command.uid else [i + 1 for i in positions]
        else:
            matched = self._matches(args.key)
            uids = [m.uid for m in matched]
            numbers = [m.uid if command.uid else m.seq for m in matched]
            if matching.uses_modseq(args.key):
                self.enabled = self.enabled | {"CONDSTORE"}
                modseq = matching.highest_modseq(matched, args.returns, command.uid) or None
        if args.returns is None:
            data = matching.search_response(numbers, modseq)
        else:
            returns = tuple(x for x in args.returns if x != "SAVE") or (
                () if "SAVE" in args.returns else ("ALL",))
            if "SAVE" in args.returns:
                view.saved = tuple(uids)
            data = matching.esearch_response(command.tag, numbers, returns, uid=command.uid,
                                             modseq=modseq) if returns else b""
        return self._ok_with(command, data, "SEARCH completed")

    def _sort(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Sort)
        matched = matching.search(args.key, self._views(), self._context())
        ordered = sort.sort(args.criteria, matched)
        numbers = [m.uid if command.uid else m.seq for m in ordered]
        if args.returns is not None:
            data = matching.esearch_response(command.tag, numbers, args.returns or ("ALL",),
                                             uid=command.uid, ordered=True)
        else:
            data = b"* SORT" + b"".join(b" %d" % n for n in numbers) + b"\r\n"
        return self._ok_with(command, data, "SORT completed")

    def _thread(self, command: c.Command) -> Outcome:
        args = command.arguments
        assert isinstance(args, c.Thread)
        matched = matching.search(args.key, self._views(), self._context())
        threads = thread.thread(args.algorithm, matched)
        data = b"* THREAD " + thread.render_threads(threads, uid=command.uid) + b"\r\n"
        return self._ok_with(command, data, "THREAD completed")


class FlagView:
    """A message as a key on flags, numbers and modseqs sees it (proto/imap/view.py)."""

    __slots__ = ("flags", "modseq", "recent", "seq", "uid")
    internal_date = 0.0
    size = 0

    def __init__(self, seq: int, uid: int, flags: frozenset[str], recent: bool,
                 modseq: int) -> None:
        self.seq, self.uid, self.flags, self.recent, self.modseq = seq, uid, flags, recent, modseq

    def header(self, name: str) -> list[str]:
        raise AssertionError("a flag view has no header fields")

    def header_text(self) -> str:
        raise AssertionError("a flag view has no header")

    def body_text(self) -> str:
        raise AssertionError("a flag view has no body")


def _flag_sets(flags: Sequence[str]) -> list[frozenset[str]]:
    """Each message's flags as a set; equal flag strings share one set."""
    made: dict[str, frozenset[str]] = {}
    return [made.get(f) or made.setdefault(f, frozenset(f.split())) for f in flags]


_ROW_KEYS = frozenset({"LARGER", "SMALLER", "BEFORE", "ON", "SINCE", "OLDER", "YOUNGER"})


def _reads_rows(key: SearchKey) -> bool:
    """The key looks at a message's size or internal date."""
    if isinstance(key, Criterion):
        return key.name in _ROW_KEYS
    if isinstance(key, Not):
        return _reads_rows(key.key)
    if isinstance(key, Or):
        return _reads_rows(key.left) or _reads_rows(key.right)
    if isinstance(key, And):
        return any(_reads_rows(k) for k in key.keys)
    return False
